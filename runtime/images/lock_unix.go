//go:build unix

package images

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"syscall"
	"time"
)

// inProcess serializes builds within this process; the lock file serializes
// processes.
var inProcess = make(chan struct{}, 1)

// lock takes the build lock: first within the process, then a flock(2) on
// a file in the temporary directory shared by every process of the host. It
// gives up when ctx ends.
func lock(ctx context.Context) (unlock func(), err error) {
	select {
	case inProcess <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	release := func() { <-inProcess }

	path := filepath.Join(os.TempDir(), "gantry-images.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o666)
	if err != nil {
		release()
		return nil, fmt.Errorf("build lock: %w", err)
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
				release()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			release()
			return nil, fmt.Errorf("build lock %s: %w", path, err)
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			f.Close()
			release()
			return nil, fmt.Errorf("build lock %s: %w", path, ctx.Err())
		}
	}
}

// goroot is the GOROOT this program was built with.
func goroot() string { return goruntime.GOROOT() } //nolint:staticcheck // a fallback only
