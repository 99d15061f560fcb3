package ray

import (
	"os"
	"testing"
)

// The SDK's tests run on an embedded local cluster (two CPUs); the node
// starts workers by running this test binary, which serves tasks in
// TestMain.
func TestMain(m *testing.M) { os.Exit(RunTests(m, WithNumCPUs(2))) }
