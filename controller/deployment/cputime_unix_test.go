//go:build unix

package deployment_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used so far;
// unlike wall time it barely moves with other processes' load.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
