package jobs

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the entrypoint in its own process group (so stop signals
// reach everything it started) and kills it if the supervisor dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
