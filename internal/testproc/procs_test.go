package testproc

import (
	"os"
	"os/exec"
	"runtime"
	"slices"
	"testing"
	"time"
)

// A shell child with its own child: both are this process's descendants,
// only the shell its child; a reaped one is gone.
func TestProcsSeesChildrenAndTheirs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var below []int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if below = Descendants(os.Getpid()); len(below) >= 2 { // the shell has started its sleep
			break
		}
	}
	kids := Children(os.Getpid())
	if !slices.Contains(kids, sh) || len(below) < 2 || !slices.Contains(below, sh) || !Alive(sh) {
		t.Fatalf("children %v, descendants %v (shell %d)", kids, below, sh)
	}
	sleeper := Children(sh)
	if len(sleeper) != 1 || !slices.Contains(below, sleeper[0]) {
		t.Fatalf("the shell's children %v, descendants of the test %v", sleeper, below)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	if Alive(sh) {
		t.Fatal("a reaped process is alive")
	}
}
