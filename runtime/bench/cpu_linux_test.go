package bench

import (
	"testing"
	"time"
)

// TreeCPU counts this process's own CPU (and so grows with work done).
func TestTreeCPUGrows(t *testing.T) {
	c0, ok := TreeCPU()
	if !ok {
		t.Skip("no /proc")
	}
	deadline := time.Now().Add(2 * time.Second)
	x := 0
	for time.Now().Before(deadline) {
		for i := range 1_000_000 {
			x += i
		}
		if c1, _ := TreeCPU(); c1-c0 >= 0.2 {
			return
		}
	}
	t.Fatalf("two seconds of spinning (%d) counted less than 0.2 s of CPU", x)
}
