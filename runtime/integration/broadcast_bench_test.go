package integration

import (
	"context"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// lenOf is the length of its argument (a large object fetched to the node
// it runs on, then into its worker).
var lenOf = ray.Task("it.len_of", func(ctx context.Context, b []byte) (int, error) { return len(b), nil })

// TestBroadcastBenchmark (GORAY_BROADCAST_BENCH=1; issue 20's scale
// envelope): a 1 GB object put by the driver (stored on the head's node)
// read by a task on each of 4 nodes at once, against one such read, in the
// same run: 3 rounds, each a single read then the broadcast, each with a
// fresh object (no node holds a copy yet). Each read is the fetch from the
// head's node to the task's node and from there into the task's worker.
func TestBroadcastBenchmark(t *testing.T) {
	if os.Getenv("GORAY_BROADCAST_BENCH") == "" {
		t.Skip("GORAY_BROADCAST_BENCH=1 runs the 1 GB broadcast benchmark")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var nodes []string
	for _, ip := range []string{"127.0.0.21", "127.0.0.22", "127.0.0.23", "127.0.0.24"} {
		n := startOwnNode(t, ip, "--num-cpus=1", "--object-store-memory=1500000000")
		nodes = append(nodes, n.id)
	}
	for _, id := range nodes { // the head's scheduler knows each node
		for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if _, err := ray.Get(ctx, lenOf.Remote(ctx, []byte("x"), ray.NodeAffinity(id, false))); err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no task runs on node %s", id)
			}
		}
	}
	obj := make([]byte, 1<<30)
	for i := range obj {
		obj[i] = byte(i)
	}
	read := func(on []string) time.Duration {
		ref, err := ray.Put(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		defer ref.Release()
		t0 := time.Now()
		refs := make([]ray.Ref[int], len(on))
		for i, id := range on {
			refs[i] = lenOf.Remote(ctx, ref, ray.NodeAffinity(id, false))
		}
		for _, r := range refs {
			if n, err := ray.Get(ctx, r); err != nil || n != len(obj) {
				t.Fatalf("read: %d, %v", n, err)
			}
		}
		return time.Since(t0)
	}
	var ratios []float64
	for round := range 3 {
		one := read(nodes[:1])
		four := read(nodes)
		ratios = append(ratios, four.Seconds()/one.Seconds())
		t.Logf("round %d: one copy %.2f s, to 4 nodes %.2f s (%.2f×)", round+1, one.Seconds(), four.Seconds(), four.Seconds()/one.Seconds())
	}
	slices.Sort(ratios)
	t.Logf("broadcast of 1 GB to 4 nodes: median %.2f× one copy", ratios[1])
}
