package integration

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// chainArgs: a chain of tasks, each pinned to Node, waiting on the next.
type chainArgs struct {
	Node  string
	Depth int
}

var blockedChain *ray.RemoteFunc[int]

// blockedFib is Fibonacci by tasks that wait on the two they submit.
var blockedFib *ray.RemoteFunc[int]

func init() {
	blockedChain = ray.Task("it.blockedChain", func(ctx context.Context, a chainArgs) (int, error) {
		if a.Depth == 0 {
			return 0, nil
		}
		n, err := ray.Get(ctx, blockedChain.Remote(ctx, chainArgs{a.Node, a.Depth - 1}, ray.NodeAffinity(a.Node, false)))
		return n + 1, err
	})
	blockedFib = ray.Task("it.blockedFib", func(ctx context.Context, n int) (int, error) {
		if n < 2 {
			return n, nil
		}
		a, b := blockedFib.Remote(ctx, n-1), blockedFib.Remote(ctx, n-2)
		if _, _, err := ray.Wait(ctx, []ray.Ref[int]{a, b}, 2, 0); err != nil {
			return 0, err
		}
		x, err := ray.Get(ctx, a)
		if err != nil {
			return 0, err
		}
		y, err := ray.Get(ctx, b)
		return x + y, err
	})
}

// Tasks that wait on the tasks they submit lend their CPUs meanwhile, as
// in Ray: a chain of 6 such tasks pinned to a node of 2 CPUs finishes
// (each waiting task would otherwise hold a CPU, and the third could never
// start), as does Fibonacci over the cluster by tasks that Wait and Get;
// and once they are done the node has its 2 CPUs again, no more.
func TestBlockedTasksLendTheirCPUs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	node := nodeIDs["127.0.0.2"]
	got, err := ray.Get(ctx, blockedChain.Remote(ctx, chainArgs{node, 6}, ray.NodeAffinity(node, false)))
	if err != nil || got != 6 {
		t.Fatalf("a chain of 6 waiting tasks on a 2-CPU node: %d, %v", got, err)
	}
	// fib(9) is 109 tasks, up to about 40 of them waiting at once, each
	// in a worker process of its own (fib(11), 287 tasks, once took more
	// than the minute on a loaded CI machine: the processes are the cost).
	root := blockedFib.Remote(ctx, 9)
	fib, err := ray.Get(ctx, root)
	if err != nil || fib != 34 {
		// Its tasks must not hold the cluster's CPUs for the tests after.
		_ = ray.Cancel(root, true)
		t.Fatalf("fib(9) by waiting tasks: %d, %v", fib, err)
	}
	// Lent CPUs come back: the node reports its CPUs all available again
	// once the tasks' leases end (idle leases are returned soon after).
	var last string
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		nodes, err := ray.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range nodes {
			if n.NodeId == node {
				last = fmt.Sprintf("available %v of %v", n.Available, n.Total)
				if n.Available["CPU"] == n.Total["CPU"] {
					return
				}
			}
		}
	}
	t.Fatalf("node 127.0.0.2 after the waiting tasks: %s", last)
}
