package integration

import (
	"context"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/ray"
)

// ownNode is a node started for one test, which may kill or freeze it
// without touching the nodes the other tests share: the suite's tests run
// in any order (-shuffle=on).
type ownNode struct {
	id   string
	addr string // its node manager's
	cmd  *exec.Cmd
	kill func() // kills the node and its workers (by pid) and waits for it
}

// startOwnNode starts a node at ip (args: its resources; one CPU and a
// 40 MB object store if none) and returns it once the cluster lists it.
// The node is killed when the test ends at the latest, and the test waits
// until the cluster knows it is dead.
func startOwnNode(t *testing.T, ip string, args ...string) *ownNode {
	t.Helper()
	ctx := context.Background()
	if len(args) == 0 {
		args = []string{"--num-cpus=1", "--object-store-memory=40000000"}
	}
	// A node of an earlier run (-count) at the same ip may still be listed
	// alive for a moment: the new one is an id not seen before.
	seen := map[string]bool{}
	nodes, _ := ray.Nodes(ctx)
	for _, n := range nodes {
		seen[n.NodeId] = true
	}
	startNode(ip, append([]string{"--address=" + gcsAddress}, args...)...)
	p := procs[ip]
	delete(procs, ip) // not one of the suite's nodes: the other tests do not look for it
	var once sync.Once
	node := &ownNode{cmd: p}
	node.kill = func() {
		once.Do(func() {
			// Its workers first: a frozen (SIGSTOP) node cannot end them.
			for _, c := range testproc.Children(p.Process.Pid) {
				_ = syscall.Kill(c, syscall.SIGKILL)
			}
			_ = p.Process.Kill()
			_ = p.Wait()
		})
	}
	t.Cleanup(func() {
		node.kill()
		// Leave once the cluster knows the node is dead: until then the
		// schedulers may still send work (spillbacks) there, which would
		// skew the tests that run next.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			alive := false
			nodes, _ := ray.Nodes(ctx)
			for _, n := range nodes {
				alive = alive || (n.Alive && n.NodeId == node.id)
			}
			if !alive {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.Errorf("node %s still listed alive 30 s after it was killed", ip)
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		nodes, _ := ray.Nodes(ctx)
		for _, n := range nodes {
			if n.Alive && n.Ip == ip && !seen[n.NodeId] {
				node.id, node.addr = n.NodeId, n.Address
				return node
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("node %s did not come up", ip)
	return node
}
