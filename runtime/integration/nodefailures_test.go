package integration

// The destructive scenarios kill and freeze nodes of their own (see
// startOwnNode), so the suite's tests run in any order.

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// Two nodes killed one after the other: a task in flight and an actor on
// the first move elsewhere, an object stored on the second is rebuilt from
// lineage.
func TestNodeFailures(t *testing.T) {
	ctx := context.Background()
	node2 := startOwnNode(t, "127.0.0.7", "--num-cpus=2", "--object-store-memory=4000000")
	node3 := startOwnNode(t, "127.0.0.8", "--num-cpus=2", "--object-store-memory=4000000")
	n2, n3 := node2.id, node3.id
	// An object stored on node 2, to be rebuilt from lineage after node 2 dies.
	lost := blob.Remote(ctx, 1<<20, 7, ray.NodeAffinity(n2, true))
	if _, err := ray.Get(ctx, lost); err != nil {
		t.Fatal(err)
	}
	// An actor on node 3 that may restart once, and a slow task there.
	h, err := stateful.Remote(ctx, ray.MaxRestarts(1), ray.NodeAffinity(n3, true))
	if err != nil {
		t.Fatal(err)
	}
	if where, err := ray.Get(ctx, actorWhere.Remote(ctx, h)); err != nil || where != n3 {
		t.Fatalf("actor on %q (%v), want node 3", where, err)
	}
	slow := whereAmI.Remote(ctx, 1500, ray.NodeAffinity(n3, true))
	time.Sleep(500 * time.Millisecond)
	node3.kill()

	where, err := ray.Get(ctx, slow)
	if err != nil || where == n3 {
		t.Fatalf("slow task after node death: ran on %q, %v", where, err)
	}
	where, err = ray.Get(ctx, actorWhere.Remote(ctx, h))
	if err != nil || where == n3 {
		t.Fatalf("restarted actor: on %q, %v", where, err)
	}
	// Out of restarts: the next death is final.
	if err := ray.Kill(ctx, h, false); err != nil {
		t.Fatal(err)
	}
	_, err = ray.Get(ctx, actorWhere.Remote(ctx, h))
	var died *ray.ActorDiedError
	if !errors.As(err, &died) {
		t.Fatalf("want ActorDiedError after restarts ran out, got %v", err)
	}

	node2.kill()
	b, err := ray.Get(ctx, lost)
	if err != nil || len(b) != 1<<20 || b[0] != 7 {
		t.Fatalf("lost object not rebuilt: len %d, %v", len(b), err)
	}
}

// A node whose host vanishes (a deleted pod: no TCP reset, the connections
// just hang) is declared dead by the GCS; the owner must then retry the
// tasks it had in flight there instead of waiting on the stream forever.
// Frozen with SIGSTOP (node manager and its workers), node 4 is exactly that.
func TestHungNodeTasksFailOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	ctx := context.Background()
	const ip = "127.0.0.4"
	node := startOwnNode(t, ip, "--num-cpus=1")
	n4 := node.id
	deadline := time.Now().Add(30 * time.Second)
	// Warm node 4 up (worker started, binary fetched), then hold its CPU.
	// The soft affinity runs elsewhere until the other nodes' resource
	// views include node 4 (one report period): retry until it lands there.
	for {
		where, err := ray.Get(ctx, whereAmI.Remote(ctx, 0, ray.NodeAffinity(n4, true)))
		if err == nil && where == n4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm-up on %q (%v), want node 4", where, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	slow := whereAmI.Remote(ctx, 2000, ray.NodeAffinity(n4, true))
	nc := nodeClientAt(t, node.addr)
	for {
		st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
		if err == nil && st.Available["CPU"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow task was not leased on node 4")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // pushed to the worker
	_ = node.cmd.Process.Signal(syscall.SIGSTOP)
	for _, c := range testproc.Children(node.cmd.Process.Pid) {
		_ = syscall.Kill(c, syscall.SIGSTOP)
	}
	gctx, cancel := context.WithTimeout(ctx, 8*time.Second) // well under gRPC keepalive (10s+5s)
	defer cancel()
	where, err := ray.Get(gctx, slow)
	if err != nil || where == n4 {
		t.Fatalf("task in flight on a hung, dead node: ran on %q, %v (want a retry on another node)", where, err)
	}
}

// placedBlob is a 1 MiB object that starts with the id of the node that
// made it.
var placedBlob = ray.Task("it.placed_blob", func(ctx context.Context, fill int) ([]byte, error) {
	b := bytes.Repeat([]byte{byte(fill)}, 1<<20)
	copy(b, ray.NodeID())
	return b, nil
})

// blobTail is what a task sees of its argument: its length and last byte.
var blobTail = ray.Task("it.blob_tail", func(ctx context.Context, b []byte) (int, error) {
	return len(b)*256 + int(b[len(b)-1]), nil
})

// A task whose argument's only copy was on a node that died: the worker
// running it cannot fetch the copy and tells the owner, which (once the
// GCS agrees the node is dead) rebuilds the object from lineage, and the
// task runs with it instead of failing with ObjectLostError.
func TestBorrowedArgumentRebuilt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := startOwnNode(t, "127.0.0.9", "--num-cpus=1", "--object-store-memory=40000000")
	// The soft affinity runs elsewhere until the nodes' resource views
	// include node 9: retry until the object is made there.
	var lost ray.Ref[[]byte]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		lost = placedBlob.Remote(ctx, 9, ray.NodeAffinity(node.id, true))
		b, err := ray.Get(ctx, lost)
		if err == nil && string(b[:len(node.id)]) == node.id {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the object was not made on node 9 (%v)", err)
		}
	}
	node.kill()
	got, err := ray.Get(ctx, blobTail.Remote(ctx, lost))
	if err != nil || got != (1<<20)*256+9 {
		t.Fatalf("a task given an object lost with its node: %d, %v", got, err)
	}
}

// placedBlobOf is placedBlob as a method of the Stateful actor: a 1 MiB
// result stored on the actor's node, starting with the node's id.
var placedBlobOf = ray.Method(stateful, "placed_blob", func(s *state, ctx context.Context, fill int) ([]byte, error) {
	b := bytes.Repeat([]byte{byte(fill)}, 1<<20)
	copy(b, ray.NodeID())
	return b, nil
})

// The result of an Idempotent actor call, stored only on the actor's node,
// is made again when that node dies, by calling the actor (restarted
// elsewhere) again; an actor call's result without the option is lost
// for good, as in Ray.
func TestIdempotentActorResultRebuilt(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := startOwnNode(t, "127.0.0.10", "--num-cpus=1", "--object-store-memory=40000000")
	var h ray.ActorHandle[state]
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		var err error
		h, err = stateful.Remote(ctx, ray.MaxRestarts(1), ray.MaxTaskRetries(2), ray.NodeAffinity(node.id, true))
		if err != nil {
			t.Fatal(err)
		}
		if where, err := ray.Get(ctx, actorWhere.Remote(ctx, h)); err == nil && where == node.id {
			break
		}
		_ = ray.Kill(ctx, h, true)
		if time.Now().After(deadline) {
			t.Fatal("the actor was not placed on node 10")
		}
	}
	rebuilt := placedBlobOf.Remote(ctx, h, 5, ray.Idempotent())
	lost := placedBlobOf.Remote(ctx, h, 6)
	for _, r := range []ray.Ref[[]byte]{rebuilt, lost} {
		if b, err := ray.Get(ctx, r); err != nil || string(b[:len(node.id)]) != node.id {
			t.Fatalf("a result made on node 10: %v", err)
		}
	}
	node.kill()
	got, err := ray.Get(ctx, blobTail.Remote(ctx, rebuilt))
	if err != nil || got != (1<<20)*256+5 {
		t.Fatalf("an idempotent actor call's result lost with its node: %d, %v", got, err)
	}
	if b, err := ray.Get(ctx, rebuilt); err != nil || string(b[:len(node.id)]) == node.id {
		t.Fatalf("the rebuilt result: made on node 10 again, or %v", err)
	}
	_, err = ray.Get(ctx, lost)
	var lostErr *ray.ObjectLostError
	if !errors.As(err, &lostErr) {
		t.Fatalf("an actor call's result without Idempotent, lost with its node: %v, want ObjectLostError", err)
	}
}
