// Command pause holds a pod's namespaces: it is the process of a pod
// sandbox's container, which the pod's app containers join. It sleeps until
// SIGTERM or SIGINT and then exits 0; as PID 1 of a shared PID namespace it
// also reaps orphaned children.
//
// It is built statically (CGO_ENABLED=0) into the FROM-scratch image
// gantry.local/pause by package runtime/images.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		fmt.Println("gantry pause")
		return
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Exit(0)
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
