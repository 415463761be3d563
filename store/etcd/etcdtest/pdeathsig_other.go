//go:build !linux

package etcdtest

import "os/exec"

// setParentDeathSignal does nothing outside Linux: t.Cleanup still stops the
// child, but a test binary killed from outside may leave it running.
func setParentDeathSignal(*exec.Cmd) {}
