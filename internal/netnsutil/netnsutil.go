// Package netnsutil runs code inside a network namespace, for the packages
// of gantry that program or test several "hosts" from one process (the
// overlay, the service proxy's test suite).
package netnsutil

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs fn on an OS thread that has entered the network namespace at
// nsPath ("" runs fn directly). Processes started by fn (such as iptables)
// and files of /proc/sys/net opened by fn belong to that namespace. fn must
// not start goroutines that rely on the namespace.
//
// If the thread cannot be switched back, it is not reused: it ends with the
// goroutine.
func Do(nsPath string, fn func() error) error {
	if nsPath == "" {
		return fn()
	}
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("network namespace %q: %w", nsPath, err)
	}
	defer target.Close()

	errc := make(chan error, 1)
	// A fresh goroutine: its thread is discarded if it cannot be restored,
	// without touching the caller's thread.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter network namespace %q: %w", nsPath, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime ends it with this
			// goroutine instead of handing it to another one.
			errc <- errors.Join(ferr, fmt.Errorf("leave network namespace %q: %w", nsPath, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}
