package data

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// The tests run on an embedded local cluster; its workers run this test
// binary, which serves tasks in TestMain.
// A fuzz worker runs only fuzz targets, which need no cluster.
func TestMain(m *testing.M) {
	if slices.ContainsFunc(os.Args, func(a string) bool { return strings.HasPrefix(a, "-test.fuzzworker") }) {
		os.Exit(m.Run())
	}
	os.Exit(ray.RunTests(m, ray.WithNumCPUs(4)))
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
