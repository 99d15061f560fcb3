//go:build !linux

package testproc

import "os/exec"

// DieWithParent does nothing where the kernel has no parent-death signal:
// the tests' cleanups stop what they started.
func DieWithParent(cmd *exec.Cmd) {}
