package integration

// Multiple returns (num_returns) and streaming generators on the head and
// two nodes, and generators whose worker or node dies mid-stream. The node
// killed here is one this test starts (127.0.0.5), so the suite's other
// tests keep their nodes whatever the order.

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// itBlobs returns n values of size bytes, value i filled with byte i.
var itBlobs = ray.Task2("it.blobs", func(ctx context.Context, n, size int) ([][]byte, error) {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i)}, size)
	}
	return out, nil
})

var actorPlaces = ray.Method(stateful, "places", func(s *state, ctx context.Context, n int) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		out[i] = ray.NodeID() + "/" + strconv.Itoa(i)
	}
	return out, nil
})

// chunk is one generator item: where and in what order it was made, and a
// payload (large ones live in the object store).
type chunk struct {
	Node string
	I    int
	Data []byte
}

var chunks = ray.Generator2("it.chunks", func(ctx context.Context, n, size int, yield func(chunk) error) error {
	for i := range n {
		if err := yield(chunk{Node: ray.NodeID(), I: i, Data: bytes.Repeat([]byte{byte(i)}, size)}); err != nil {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
})

// crashingChunks' worker dies at item 4 the first time.
var crashingChunks = ray.Generator2("it.crashing_chunks", func(ctx context.Context, marker string, n int, yield func(chunk) error) error {
	for i := range n {
		if i == 4 {
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o644)
				os.Exit(3)
			}
		}
		if err := yield(chunk{Node: ray.NodeID(), I: i}); err != nil {
			return err
		}
	}
	return nil
})

var actorChunks = ray.GeneratorMethod(stateful, "chunks", func(s *state, ctx context.Context, n int, yield func(chunk) error) error {
	for i := range n {
		s.calls++
		if err := yield(chunk{Node: ray.NodeID(), I: i}); err != nil {
			return err
		}
	}
	return nil
})

// placedBlobs returns n chunks of size bytes made where it ran.
var placedBlobs = ray.Task2("it.placed_blobs", func(ctx context.Context, n, size int) ([]chunk, error) {
	out := make([]chunk, n)
	for i := range out {
		out[i] = chunk{Node: ray.NodeID(), I: i, Data: bytes.Repeat([]byte{byte(i)}, size)}
	}
	return out, nil
})

// endless yields until cancelled.
var endless = ray.Generator0("it.endless", func(ctx context.Context, yield func(int) error) error {
	for i := 0; ; i++ {
		if err := yield(i); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
})

func TestMultipleReturnsOnNodes(t *testing.T) {
	ctx := context.Background()
	n2, n3 := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	refs, err := ray.RemoteN(ctx, itBlobs, 3, 3, 1<<20, ray.NodeAffinity(n2, false))
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		b, err := ray.Get(ctx, r)
		if err != nil || len(b) != 1<<20 || b[0] != byte(i) || b[len(b)-1] != byte(i) {
			t.Fatalf("return %d: len %d, %v", i, len(b), err)
		}
	}
	h, err := stateful.Remote(ctx, ray.NodeAffinity(n3, false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	prefs, err := ray.CallN(ctx, actorPlaces, h, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range prefs {
		if got, err := ray.Get(ctx, r); err != nil || got != n3+"/"+strconv.Itoa(i) {
			t.Fatalf("actor return %d: %q, %v", i, got, err)
		}
	}
	// The wrong count fails every return.
	bad, err := ray.RemoteN(ctx, itBlobs, 3, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range bad {
		var te *ray.TaskError
		if _, err := ray.Get(ctx, r); !errors.As(err, &te) || te.Type != "NumReturnsMismatch" {
			t.Fatalf("return %d of a 2-value result with num_returns 3: %v", i, err)
		}
	}
}

// A generator on node 2 streams small and stored items to the driver in
// order, under backpressure; an actor's generator method on node 3 too;
// and the generator task's events say it finished where it ran.
func TestGeneratorsOnNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n2, n3 := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	for _, size := range []int{16, 300 << 10} {
		g := chunks.Remote(ctx, 6, size, ray.NodeAffinity(n2, false), ray.GeneratorBackpressure(2))
		i := 0
		for c, err := range g.Values(ctx) {
			if err != nil {
				t.Fatalf("size %d, item %d: %v", size, i, err)
			}
			if c.I != i || c.Node != n2 || len(c.Data) != size || c.Data[0] != byte(i) {
				t.Fatalf("size %d, item %d: %d from %s, %d bytes", size, i, c.I, c.Node, len(c.Data))
			}
			i++
		}
		if i != 6 {
			t.Fatalf("size %d: %d items, want 6", size, i)
		}
		if size == 16 {
			ts := listTasks(t, func(ts []*rpcpb.TaskState) bool {
				return len(ts) == 1 && ts[0].State == rpcpb.TaskEvent_FINISHED && ts[0].NodeId != ""
			}, "task_id", "=", g.ID())
			if ts[0].NodeId != n2 || ts[0].Info.GetName() != "it.chunks" {
				t.Errorf("generator task events: %v", ts[0])
			}
		}
	}
	h, err := stateful.Remote(ctx, ray.NodeAffinity(n3, false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	i := 0
	for c, err := range actorChunks.Remote(ctx, h, 20).Values(ctx) {
		if err != nil || c.I != i || c.Node != n3 {
			t.Fatalf("actor item %d: %+v, %v", i, c, err)
		}
		i++
	}
	if i != 20 {
		t.Fatalf("actor generator: %d items, want 20", i)
	}
}

// A worker killed mid-stream: the generator is retried and the consumer
// gets every item once, in order.
func TestGeneratorWorkerKilledMidStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	marker := filepath.Join(t.TempDir(), "crashed")
	var got []int
	g := crashingChunks.Remote(ctx, marker, 10)
	for c, err := range g.Values(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, c.I)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the first attempt did not crash")
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Fatalf("items %v, want 0..9 once each", got)
	}
	// Its task events: the crashed attempt and the retry.
	// Both attempts ended (the retry's FINISHED may reach the GCS after its
	// PENDING_NODE_ASSIGNMENT and after the items did).
	ended := func(s rpcpb.TaskEvent_Status) bool {
		return s == rpcpb.TaskEvent_FINISHED || s == rpcpb.TaskEvent_FAILED
	}
	ts := listTasks(t, func(ts []*rpcpb.TaskState) bool {
		return len(ts) == 2 && ended(ts[0].State) && ended(ts[1].State)
	}, "task_id", "=", g.ID())
	slices.SortFunc(ts, func(a, b *rpcpb.TaskState) int { return int(a.Attempt - b.Attempt) })
	if ts[0].State != rpcpb.TaskEvent_FAILED || ts[0].ErrorType != "WORKER_DIED" || ts[1].State != rpcpb.TaskEvent_FINISHED {
		t.Errorf("attempt 0 %s (%s), attempt 1 %s; want FAILED (WORKER_DIED), FINISHED", ts[0].State, ts[0].ErrorType, ts[1].State)
	}
}

// Cancel stops a generator running on node 3: the stream ends with
// TaskCancelledError and the node's CPU is free again.
func TestGeneratorCancelOnNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n3 := nodeIDs["127.0.0.3"]
	g := endless.Remote(ctx, ray.NodeAffinity(n3, false))
	for range 5 {
		if _, err := g.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := ray.Cancel(g, false); err != nil {
		t.Fatal(err)
	}
	var last error
	for _, err := range g.Values(ctx) {
		last = err
	}
	var ce *ray.TaskCancelledError
	if !errors.As(last, &ce) {
		t.Fatalf("the stream ended with %v, want TaskCancelledError", last)
	}
	waitCPUsFree(ctx, t, "127.0.0.3", "after the cancel")
}

// waitCPUsFree waits until the node at ip has all its CPUs available (its
// leases returned), failing the test with why when ctx ends first.
func waitCPUsFree(ctx context.Context, t *testing.T, ip, why string) {
	t.Helper()
	nc := nodeClient(t, ip)
	for {
		st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
		if err == nil && st.Available["CPU"] == st.Total["CPU"] {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("%s's CPUs still held %s: %v", ip, why, st.GetAvailable())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A node killed mid-stream: the generator, which stored its items there,
// is retried on another node and the stream goes on after the items the
// consumer had; the items lost with the node are rebuilt from lineage, and
// so are the two returns of a num_returns task stored there.
func TestGeneratorNodeKilledMidStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const ip = "127.0.0.5"
	node5 := startOwnNode(t, ip)
	n5, killer := node5.id, node5.kill
	// Two returns of one task, stored on node 5 (first: the generator
	// then holds its one CPU). Soft affinity lands elsewhere until the
	// nodes' views include node 5 (a report period): retry until it runs there.
	var rets []ray.Ref[chunk]
	for {
		var err error
		if rets, err = ray.RemoteN(ctx, placedBlobs, 2, 2, 300<<10, ray.NodeAffinity(n5, true)); err != nil {
			t.Fatal(err)
		}
		c, err := ray.Get(ctx, rets[0])
		if err != nil {
			t.Fatal(err)
		}
		if c.Node == n5 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("no task with returns ran on node 5")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Then a generator there.
	var g *ray.ObjectRefGenerator[chunk]
	var first chunk
	for {
		g = chunks.Remote(ctx, 10, 300<<10, ray.NodeAffinity(n5, true), ray.GeneratorBackpressure(2))
		r, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first, err = ray.Get(ctx, r); err != nil {
			t.Fatal(err)
		}
		if first.Node == n5 {
			break
		}
		g.Release()
		if ctx.Err() != nil {
			t.Fatal("no generator ran on node 5")
		}
		time.Sleep(100 * time.Millisecond)
	}
	refs := []ray.Ref[chunk]{}
	for range 2 {
		r, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	killer()
	got := []int{0}
	for c, err := range g.Values(ctx) {
		if err != nil {
			t.Fatalf("after item %v: %v", got, err)
		}
		if c.I != len(got)+2 || len(c.Data) != 300<<10 || c.Data[0] != byte(c.I) {
			t.Fatalf("after items %v and 2 taken: item %d (%d bytes)", got, c.I, len(c.Data))
		}
		got = append(got, c.I)
	}
	if len(got) != 8 {
		t.Fatalf("items 0 and %v after 1, 2: want through 9", got[1:])
	}
	// Items 1 and 2 were stored on node 5: rebuilt by running the
	// generator again elsewhere.
	for i, r := range refs {
		c, err := ray.Get(ctx, r)
		if err != nil || c.I != i+1 || c.Node == n5 || len(c.Data) != 300<<10 || c.Data[0] != byte(i+1) {
			t.Fatalf("item %d after node 5 died: %d from %s, %v", i+1, c.I, c.Node, err)
		}
	}
	// Both returns were lost with node 5: one re-run elsewhere rebuilds them.
	for i, r := range rets {
		c, err := ray.Get(ctx, r)
		if err != nil || c.I != i || c.Node == n5 || len(c.Data) != 300<<10 || c.Data[0] != byte(i) {
			t.Fatalf("return %d after node 5 died: %d from %s, %v", i, c.I, c.Node, err)
		}
	}
}

// Releasing a generator frees its items not taken from the store of the
// node that made them; a taken one lives until its ref goes.
func TestGeneratorReleaseFreesStoredItems(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n2 := nodeIDs["127.0.0.2"]
	nc := nodeClient(t, "127.0.0.2")
	objects := func() int64 {
		st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		return st.NumObjects
	}
	waitObjects := func(want int64, what string) {
		for {
			got := objects()
			if got == want {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("%s: node 2 holds %d objects, want %d", what, got, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Objects of earlier tests whose refs are garbage are freed first, so
	// that the count moves only with this test's.
	base := objects()
	for {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		now := objects()
		if now == base {
			break
		}
		base = now
		if ctx.Err() != nil {
			t.Fatal("node 2's object count does not settle")
		}
	}
	g := chunks.Remote(ctx, 5, 300<<10, ray.NodeAffinity(n2, false))
	taken, err := g.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitObjects(base+5, "all items made")
	g.Release()
	waitObjects(base+1, "after Release")
	if c, err := ray.Get(ctx, taken); err != nil || c.I != 0 {
		t.Fatalf("the taken item after Release: %d, %v", c.I, err)
	}
	taken.Release()
	waitObjects(base, "after the taken item's Release")
}

// An actor's generator method whose node is killed mid-stream: the actor
// restarts on another node, the call is retried there (MaxTaskRetries)
// and the stream goes on after the items the consumer had, each once.
func TestActorGeneratorNodeKilledMidStream(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	const ip = "127.0.0.6"
	node6 := startOwnNode(t, ip)
	n6, killer := node6.id, node6.kill
	var h ray.ActorHandle[state]
	for {
		var err error
		if h, err = stateful.Remote(ctx, ray.MaxRestarts(1), ray.NodeAffinity(n6, true)); err != nil {
			t.Fatal(err)
		}
		where, err := ray.Get(ctx, actorWhere.Remote(ctx, h))
		if err != nil {
			t.Fatal(err)
		}
		if where == n6 {
			break
		}
		_ = ray.Kill(ctx, h, true)
		if ctx.Err() != nil {
			t.Fatal("no actor was placed on node 6")
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	g := actorChunks.Remote(ctx, h, 12, ray.MaxTaskRetries(1), ray.GeneratorBackpressure(2))
	var got []int
	for range 3 {
		r, err := g.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ray.Get(ctx, r)
		if err != nil || c.Node != n6 {
			t.Fatalf("item %d before the kill: from %s, %v", len(got), c.Node, err)
		}
		got = append(got, c.I)
	}
	killer()
	after := map[string]bool{}
	for c, err := range g.Values(ctx) {
		if err != nil {
			t.Fatalf("after items %v: %v", got, err)
		}
		got = append(got, c.I)
		after[c.Node] = true
	}
	if !slices.Equal(got, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}) {
		t.Fatalf("items %v, want 0..11 once each", got)
	}
	if after[n6] && len(after) == 1 {
		t.Fatalf("every item after the kill came from the dead node 6: %v", after)
	}
}
