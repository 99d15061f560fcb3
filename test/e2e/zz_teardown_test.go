//go:build e2e

package e2e

import (
	"testing"
	"time"
)

// TestTeardownLeavesHostClean runs last (its file sorts last): it tears the
// cluster down with hack/cluster/down.sh and checks that nothing is left on
// the host: no netns, veth, routes, KUBE-* chains in the root namespace,
// mounts under the state folder, cgroup subtree, processes, host folders, or
// changed kernel settings.
func TestTeardownLeavesHostClean(t *testing.T) {
	if reuse || keep {
		t.Skip("GORAY_E2E_REUSE or GORAY_E2E_KEEP: the cluster stays up")
	}
	step(t, "hack/cluster/down.sh", func() {
		start := time.Now()
		err := run("hack/cluster/down.sh")
		tornDown = true
		if err != nil {
			t.Fatalf("down.sh: %v", err)
		}
		t.Logf("down took %s", time.Since(start).Round(time.Millisecond))
	})
	step(t, "host clean", func() {
		for _, p := range hostProblems(baseline) {
			t.Error(p)
		}
	})
}
