package ray

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// The SDK's tests run on an embedded local cluster (two CPUs); the node
// starts workers by running this test binary, which serves tasks in
// TestMain.
func TestMain(m *testing.M) {
	ctx := context.Background()
	if IsWorker() {
		_ = Init(ctx) // serves tasks, never returns
	}
	if err := Init(ctx, WithNumCPUs(2)); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		os.Exit(1)
	}
	code := m.Run()
	Shutdown()
	os.Exit(code)
}
