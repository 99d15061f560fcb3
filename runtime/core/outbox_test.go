package core

import (
	"slices"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func specs(from, n int) []*rpcpb.TaskSpec {
	out := make([]*rpcpb.TaskSpec, n)
	for i := range out {
		out[i] = &rpcpb.TaskSpec{Seq: uint64(from + i)}
	}
	return out
}

// An outbox hands its batches over in order, joined into messages of at
// most 4096 calls, and nothing once closed.
func TestOutboxOrderAndCoalescing(t *testing.T) {
	o := newOutbox()
	o.put(specs(0, 3))
	o.put(specs(3, 4000))
	o.put(specs(4003, 200))
	o.put(specs(4203, 5000))
	msgs, ok := o.take(nil)
	if !ok {
		t.Fatal("closed")
	}
	next := uint64(0)
	var sizes []int
	for _, m := range msgs {
		sizes = append(sizes, len(m))
		for _, s := range m {
			if s.Seq != next {
				t.Fatalf("call %d where %d was due", s.Seq, next)
			}
			next++
		}
	}
	// A batch is never split: one larger than 4096 calls goes alone.
	if next != 9203 || !slices.Equal(sizes, []int{4003, 200, 5000}) {
		t.Fatalf("%d calls in messages of %v, want 9203 in 4003, 200, 5000", next, sizes)
	}
	done := make(chan bool)
	go func() {
		_, ok := o.take(nil)
		done <- ok
	}()
	o.close()
	if <-done {
		t.Fatal("take after close handed calls over")
	}
}
