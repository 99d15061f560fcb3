//go:build !linux

package jobs

import (
	"os/exec"
	"syscall"
)

// setProcAttr puts the entrypoint in its own process group so stop signals
// reach everything it started.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// killOrphans is Linux-only (it needs /proc to tell a job's processes from
// a reused pid); elsewhere a dead supervisor's processes are left alone.
func killOrphans(pgid int, id string) int { return 0 }
