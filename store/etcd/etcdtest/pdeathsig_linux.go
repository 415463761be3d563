package etcdtest

import (
	"os/exec"
	"syscall"
)

// setParentDeathSignal makes the kernel kill the child when the thread that
// started it exits.
func setParentDeathSignal(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
