package core

import (
	"context"
	"errors"
	"io"
	"log"
	"sync"
	"testing"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/generator"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// nodesGCS answers GetNodes with the nodes it holds, alive or not.
type nodesGCS struct {
	mu    sync.Mutex
	nodes []*rpcpb.NodeView
}

func (f *nodesGCS) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	r, ok := reply.(*rpcpb.ClusterView)
	if !ok {
		return errors.New("only GetNodes")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r.Nodes = f.nodes
	return nil
}

func (f *nodesGCS) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("no streams")
}

// A borrower's report that the node of an object's copy is dead: the
// owner takes it only when the GCS agrees, and then every object it
// stored there is lost (a put object, which has no lineage, fails), as
// when its own fetch fails; a report about an older copy changes nothing.
func TestBorrowerReportsLostCopy(t *testing.T) {
	gcs := &nodesGCS{nodes: []*rpcpb.NodeView{{NodeId: "n1", Address: "127.0.0.1:1", Alive: true}}}
	w := &Worker{log: log.New(io.Discard, "", 0), table: ownership.New(), pending: map[string]*pendingTask{},
		gcs: rpcpb.NewGcsClient(gcs)}
	w.table.AddPut("a", ownership.Location{NodeID: "n1", Size: 1 << 20})
	w.table.AddPut("b", ownership.Location{NodeID: "n1", Size: 1 << 20})
	w.table.AddPut("c", ownership.Location{NodeID: "n2", Size: 1 << 20})
	ctx := context.Background()

	// The GCS lists n1 alive: the same location again.
	o, err := w.GetObject(ctx, &rpcpb.GetObjectRequest{Id: "a", LostNodeId: "n1"})
	if err != nil || o.Error != nil || !o.InStore || o.NodeId != "n1" {
		t.Fatalf("a live node's copy: %v, %v", o, err)
	}
	// A report naming a node the copy is not on: nothing changes.
	gcs.mu.Lock()
	gcs.nodes[0].Alive = false
	gcs.mu.Unlock()
	o, err = w.GetObject(ctx, &rpcpb.GetObjectRequest{Id: "c", LostNodeId: "n1"})
	if err != nil || o.Error != nil || o.NodeId != "n2" {
		t.Fatalf("a report about another node: %v, %v", o, err)
	}
	// n1 is dead: a and b (put objects, no lineage) fail; c is untouched.
	o, err = w.GetObject(ctx, &rpcpb.GetObjectRequest{Id: "a", LostNodeId: "n1"})
	if err != nil || o.Error == nil || o.Error.Kind != rpcpb.ErrorInfo_OBJECT_LOST {
		t.Fatalf("a copy on a dead node: %v, %v", o, err)
	}
	for id, lost := range map[string]bool{"b": true, "c": false} {
		e, _ := w.table.Get(id)
		var le *ObjectLostError
		if errors.As(e.Loc.Err, &le) != lost {
			t.Errorf("object %s: %+v, want lost %v", id, e.Loc, lost)
		}
	}
}

// While a task runs again after a failure, no generator stream of its
// owner pauses for its consumer (a paused executor would hold resources
// the recovery may need): held reports go on, new streams do not hold;
// after the last recovery, reports hold again.
func TestRecoveryLetsPausedGeneratorsGo(t *testing.T) {
	w := &Worker{table: ownership.New(), pending: map[string]*pendingTask{}}
	gen := func(id string) *pendingTask {
		pt := &pendingTask{spec: &rpcpb.TaskSpec{TaskId: id}, gen: newGenState(2)}
		w.pending[id] = pt
		w.newStreamLocked(pt)
		return pt
	}
	held := func(pt *pendingTask, first int64) (bool, chan generator.Ack) {
		waiter := make(chan generator.Ack, 1)
		r, err := pt.gen.s.Report(0, first, 1, waiter)
		if err != nil {
			t.Fatal(err)
		}
		return r.Hold, waiter
	}
	paused := gen("g1")
	if h, _ := held(paused, 0); h {
		t.Fatal("a first item held at threshold 2")
	}
	h, waiter := held(paused, 1)
	if !h {
		t.Fatal("not held behind its consumer")
	}
	w.startRecoveryLocked("retry-1")
	w.startRecoveryLocked("retry-2")
	select {
	case a := <-waiter:
		if a.Stop {
			t.Fatal("the paused executor was told to stop")
		}
	default:
		t.Fatal("the paused executor was not let go when a recovery started")
	}
	late := gen("g2")
	if h, _ := held(late, 0); h {
		t.Fatal("a stream made during a recovery held")
	}
	if h, _ := held(late, 1); h {
		t.Fatal("a stream made during a recovery held")
	}
	w.endRecoveryLocked("retry-1")
	w.endRecoveryLocked("unknown")
	if h, _ := held(paused, 2); h {
		t.Fatal("held while a recovery still runs")
	}
	w.endRecoveryLocked("retry-2")
	for _, pt := range []*pendingTask{paused, late} {
		if h, _ := held(pt, pt.gen.s.Received()); !h {
			t.Fatalf("%s: not held after the recoveries", pt.spec.TaskId)
		}
	}
}
