package ray

import (
	"context"
	"fmt"
	"os"
	"testing"
)

// RunTests is a TestMain for the tests of a package that uses goray: the
// local cluster's node starts workers by running the test binary, which
// then serves tasks here; otherwise it starts an embedded local cluster
// with opts, runs the tests and shuts the cluster down. It returns the
// exit code.
//
//	func TestMain(m *testing.M) { os.Exit(ray.RunTests(m, ray.WithNumCPUs(4))) }
func RunTests(m *testing.M, opts ...InitOption) int {
	ctx := context.Background()
	if IsWorker() {
		_ = Init(ctx) // serves tasks, never returns
	}
	if err := Init(ctx, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "goray: init:", err)
		return 1
	}
	defer Shutdown()
	return m.Run()
}
