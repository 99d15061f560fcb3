package core

import (
	"context"
	"testing"

	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/taskevents"
)

// BenchmarkActorCallOwnerSide is a synchronous actor call's bookkeeping at
// its caller without the network: the call made through a counted handle,
// queued to a connected actor, its result back (with its task events) and
// the Get of it — what 1_1_actor_calls_sync's caller does per round trip
// besides gRPC.
func BenchmarkActorCallOwnerSide(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &Worker{addr: "127.0.0.1:1", table: ownership.New(), pending: map[string]*pendingTask{},
		queues: map[string]*schedQueue{}, actorsC: map[string]*actorSubmitter{}, baseCtx: ctx, stopAll: cancel,
		bor: newBorrowState(), events: taskevents.NewBuffer(0, 0)}
	w.releaseFn = w.release // as New makes it
	ah := w.OwnActor("a1")
	s := &actorSubmitter{id: "a1", inflight: map[string]*pendingTask{}, state: connected, out: newOutbox(),
		where: &rpcpb.TaskWhere{NodeId: "n1", WorkerId: "w1"}}
	w.actorsC["a1"] = s
	arg := []byte("42")
	var buf [][]*rpcpb.TaskSpec
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		h := w.SubmitActorTask("a1", "bench.m", []Arg{{Value: arg}}, 0, 0, CallOptions{Actor: ah})
		msgs, _ := s.out.take(buf[:0])
		spec := msgs[0][0]
		clear(msgs)
		buf = msgs
		w.actorResults(s, &rpcpb.ResultBatch{Results: []*rpcpb.TaskResult{{TaskId: spec.TaskId, StartTimeNs: 1, ExecMicros: 1,
			Result: &rpcpb.Object{Data: arg}}}})
		if _, err := w.Get(ctx, h.ID, h.Owner); err != nil {
			b.Fatal(err)
		}
		h.Release()
		if i++; i%1000 == 0 { // the reporter's work, as once a second
			w.writeUnwritten()
			w.events.Take()
		}
	}
}
