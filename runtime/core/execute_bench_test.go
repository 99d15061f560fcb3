package core

import (
	"context"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The executor's side of an actor call without the network: what execute
// costs per call (its allocations are exact; `goray microbenchmark`'s
// 1_1_actor_calls_sync waits for it on every round trip).

func init() {
	RegisterMethod("bench.Exec.noop", func(ctx context.Context, inst any, args [][]byte) ([]byte, error) {
		return args[0], nil
	})
}

func BenchmarkExecuteActorCall(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &Worker{addr: "127.0.0.1:1", baseCtx: ctx, running: map[string]runningTask{}, bor: newBorrowState(), actor: struct{}{}, actorID: "a1"}
	spec := &rpcpb.TaskSpec{TaskId: "t1", Name: "bench.Exec.noop", ActorId: "a1", OwnerAddress: "127.0.0.1:2",
		Args: []*rpcpb.Arg{{Value: []byte("42")}}}
	b.ReportAllocs()
	for b.Loop() {
		if r := w.execute(spec); r.Result == nil || r.Result.Error != nil {
			b.Fatal(r)
		}
	}
}
