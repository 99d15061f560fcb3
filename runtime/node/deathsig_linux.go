package node

import (
	"os/exec"
	"syscall"
)

// setDeathSignal makes a worker die with its node manager.
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
