//go:build !linux

package node

import "os/exec"

func setDeathSignal(cmd *exec.Cmd) {}
