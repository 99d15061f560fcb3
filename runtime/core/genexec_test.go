package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// fakeOwner answers item reports as an owner would: with a threshold it
// holds a reply until the consumer (the test, by consume) is less than the
// threshold behind the report's last item.
type fakeOwner struct {
	mu        sync.Mutex
	cond      *sync.Cond
	batches   []*rpcpb.GeneratorItems
	threshold int64
	consumed  int64
	stop      bool
	err       error
}

func newFakeOwner(threshold int64) *fakeOwner {
	o := &fakeOwner{threshold: threshold}
	o.cond = sync.NewCond(&o.mu)
	return o
}

func (o *fakeOwner) consume(n int64) {
	o.mu.Lock()
	o.consumed += n
	o.cond.Broadcast()
	o.mu.Unlock()
}

func (o *fakeOwner) send(ctx context.Context, in *rpcpb.GeneratorItems) (*rpcpb.GeneratorItemsReply, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.batches = append(o.batches, in)
	o.cond.Broadcast()
	if o.err != nil {
		return nil, o.err
	}
	upto := in.FirstIndex + int64(len(in.Items))
	for o.threshold > 0 && upto-o.consumed >= o.threshold && ctx.Err() == nil {
		o.cond.Wait()
	}
	return &rpcpb.GeneratorItemsReply{Consumed: o.consumed, Stop: o.stop}, nil
}

// waitItems waits until the owner got n items.
func (o *fakeOwner) waitItems(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for {
		got := 0
		for _, b := range o.batches {
			got += len(b.Items)
		}
		if got >= n {
			return
		}
		o.cond.Wait()
	}
}

// reported lists the indices and values the owner got, in arrival order.
func (o *fakeOwner) reported() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for _, b := range o.batches {
		for i, it := range b.Items {
			v := string(it.Data)
			if it.InStore {
				v = "stored:" + it.NodeId
			}
			out = append(out, fmt.Sprintf("%d=%s", b.FirstIndex+int64(i), v))
		}
	}
	return out
}

func noStore(context.Context, string, Return) (*rpcpb.Object, error) {
	return nil, errors.New("no store in this test")
}

func TestReporterSendsInOrder(t *testing.T) {
	o := newFakeOwner(0)
	r := newItemReporter(context.Background(), &rpcpb.TaskSpec{TaskId: "t"}, o.send, noStore)
	for i := range 50 {
		if err := r.Item([]byte{byte('a' + i%26)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	got := o.reported()
	if len(got) != 50 {
		t.Fatalf("owner got %d items, want 50: %v", len(got), got)
	}
	for i, s := range got {
		if want := fmt.Sprintf("%d=%c", i, 'a'+i%26); s != want {
			t.Fatalf("item %d reported as %s, want %s", i, s, want)
		}
	}
}

// A retry skips the items its owner holds: they are neither stored nor
// reported, and the first report starts after them.
func TestReporterSkipsHeldItems(t *testing.T) {
	o := newFakeOwner(0)
	stored := 0
	store := func(_ context.Context, id string, _ Return) (*rpcpb.Object, error) {
		stored++
		if id != ids.Item("t", 4) {
			t.Errorf("stored %s, want item 4's id", id)
		}
		return &rpcpb.Object{InStore: true, NodeId: "n1"}, nil
	}
	r := newItemReporter(context.Background(), &rpcpb.TaskSpec{TaskId: "t", Attempt: 1, SkipItems: 3}, o.send, store)
	for i := range 5 {
		data := []byte{byte('0' + i)}
		if i >= 2 {
			data = bytes.Repeat(data, InlineThreshold+1) // would be stored if reported
		}
		if i == 3 {
			data = []byte("3")
		}
		if err := r.Item(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	got := o.reported()
	if len(got) != 2 || got[0] != "3=3" || got[1] != "4=stored:n1" || stored != 1 {
		t.Fatalf("reported %v (stored %d), want item 3 inline and item 4 stored", got, stored)
	}
	if o.batches[0].Attempt != 1 {
		t.Fatalf("reported as attempt %d, want 1", o.batches[0].Attempt)
	}
}

// A sized item is encoded by its fill: a small one inline, a large one
// straight into the memory the store gives it (never a buffer of its own).
func TestReporterSizedItems(t *testing.T) {
	o := newFakeOwner(0)
	var stored []byte
	store := func(_ context.Context, id string, item Return) (*rpcpb.Object, error) {
		stored = make([]byte, item.Size)
		item.Fill(stored)
		return &rpcpb.Object{InStore: true, NodeId: "n1", Size: item.Size}, nil
	}
	r := newItemReporter(context.Background(), &rpcpb.TaskSpec{TaskId: "t"}, o.send, store)
	if err := r.Sized(3, func(dst []byte) { copy(dst, "abc") }); err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("x"), InlineThreshold+1)
	if err := r.Sized(int64(len(big)), func(dst []byte) { copy(dst, big) }); err != nil {
		t.Fatal(err)
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	got := o.reported()
	if len(got) != 2 || got[0] != "0=abc" || got[1] != "1=stored:n1" || !bytes.Equal(stored, big) {
		t.Fatalf("reported %v (stored %d bytes), want item 0 inline and item 1 stored as filled", got, len(stored))
	}
}

// With threshold 2 the generator pauses at its second unconsumed item and
// goes on only once the owner's reply says the consumer took one.
func TestReporterBackpressure(t *testing.T) {
	o := newFakeOwner(2)
	r := newItemReporter(context.Background(), &rpcpb.TaskSpec{TaskId: "t", GeneratorBackpressure: 2}, o.send, noStore)
	// The pause counts as a wait of the worker (it lends its CPUs), and
	// only the pause.
	var waits, ended atomic.Int32
	r.waiting = func() func() {
		waits.Add(1)
		return func() { ended.Add(1) }
	}
	if err := r.Item([]byte("a")); err != nil { // 1 unconsumed: goes on
		t.Fatal(err)
	}
	if waits.Load() != 0 {
		t.Fatal("a yield that did not pause counted as a wait")
	}
	var released atomic.Bool
	type outcome struct {
		err      error
		released bool
	}
	done := make(chan outcome, 1)
	go func() {
		err := r.Item([]byte("b")) // 2 unconsumed: pauses
		done <- outcome{err, released.Load()}
	}()
	o.waitItems(2) // b reached the owner, whose reply is held
	released.Store(true)
	o.consume(1)
	if out := <-done; out.err != nil || !out.released {
		t.Fatalf("yield of the second item: %v; returned after the consumer took one: %v", out.err, out.released)
	}
	if waits.Load() != 1 || ended.Load() != 1 {
		t.Fatalf("the pause counted %d waits, %d ended; want 1 and 1", waits.Load(), ended.Load())
	}
	if err := r.flush(); err != nil {
		t.Fatal(err)
	}
	if got := o.reported(); len(got) != 2 {
		t.Fatalf("reported %v", got)
	}
}

func TestReporterStopsWhenTheOwnerSaysSo(t *testing.T) {
	o := newFakeOwner(0)
	o.stop = true
	r := newItemReporter(context.Background(), &rpcpb.TaskSpec{TaskId: "t"}, o.send, noStore)
	_ = r.Item([]byte("a"))
	if err := r.flush(); !errors.Is(err, errStaleAttempt) {
		t.Fatalf("flush: %v, want errStaleAttempt", err)
	}
	if err := r.Item([]byte("b")); !errors.Is(err, errStaleAttempt) {
		t.Fatalf("yield after stop: %v, want errStaleAttempt", err)
	}
}

func TestReporterFailsWhenTheOwnerIsGone(t *testing.T) {
	o := newFakeOwner(0)
	o.err = errors.New("connection refused")
	r := newItemReporter(context.Background(), &rpcpb.TaskSpec{TaskId: "t"}, o.send, noStore)
	_ = r.Item([]byte("a"))
	if err := r.flush(); err == nil {
		t.Fatal("flush succeeded with no owner")
	}
}

// A cancelled task's generator, paused for backpressure, wakes with the
// cancellation.
func TestReporterCancelWakesAPausedGenerator(t *testing.T) {
	o := newFakeOwner(0)
	ctx, cancel := context.WithCancel(context.Background())
	r := newItemReporter(ctx, &rpcpb.TaskSpec{TaskId: "t", GeneratorBackpressure: 1}, o.send, noStore)
	done := make(chan error, 1)
	go func() { done <- r.Item([]byte("a")) }()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("yield: %v, want context.Canceled", err)
	}
}
