package testproc

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestChildDiesWithParent starts a parent (this test binary again) that
// starts a long sleep with DieWithParent and then exits without stopping it:
// the sleep must be gone soon after.
func TestChildDiesWithParent(t *testing.T) {
	if os.Getenv("TESTPROC_PARENT") == "1" {
		child := exec.Command("sleep", "300")
		DieWithParent(child)
		if err := child.Start(); err != nil {
			os.Exit(2)
		}
		fmt.Println(child.Process.Pid)
		os.Exit(0) // no cleanup: as if killed
	}
	parent := exec.Command(os.Args[0], "-test.run=^TestChildDiesWithParent$")
	parent.Env = append(os.Environ(), "TESTPROC_PARENT=1")
	out, err := parent.Output()
	if err != nil {
		t.Fatalf("parent: %v", err)
	}
	pid, err := strconv.Atoi(string(out[:len(out)-1]))
	if err != nil {
		t.Fatalf("parent printed %q", out)
	}
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d still runs 5 s after its parent ended", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
