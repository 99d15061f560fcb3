package serve

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// batchRecorder is a batch function that remembers the sizes it saw.
type batchRecorder struct {
	mu    sync.Mutex
	sizes []int
	hold  chan struct{} // if set, each batch waits for it
}

func (r *batchRecorder) fn(ctx context.Context, in []int) ([]int, error) {
	r.mu.Lock()
	r.sizes = append(r.sizes, len(in))
	r.mu.Unlock()
	if r.hold != nil {
		<-r.hold
	}
	out := make([]int, len(in))
	for i, x := range in {
		out[i] = x * 10
	}
	return out, nil
}

func (r *batchRecorder) seen() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sizes)
}

// 64 concurrent calls with a batch size of 8 and a long wait run as eight
// full batches, and every caller gets its own result.
func TestBatcherFillsBatches(t *testing.T) {
	var rec batchRecorder
	b := NewBatcher(rec.fn, BatchOptions{MaxBatchSize: 8, WaitTimeout: time.Minute})
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 64 {
		wg.Go(func() {
			out, err := b.Call(context.Background(), i)
			if err != nil || out != i*10 {
				errs <- errors.New("wrong result")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := rec.seen(); !slices.Equal(got, []int{8, 8, 8, 8, 8, 8, 8, 8}) {
		t.Fatalf("batch sizes %v, want eight of 8", got)
	}
}

// A batch that does not fill runs after the wait, counted from its first call.
func TestBatcherRunsAShortBatchAfterTheWait(t *testing.T) {
	var rec batchRecorder
	b := NewBatcher(rec.fn, BatchOptions{MaxBatchSize: 8, WaitTimeout: 50 * time.Millisecond})
	defer b.Close()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Go(func() { _, _ = b.Call(context.Background(), i) })
	}
	wg.Wait()
	if waited := time.Since(start); waited < 40*time.Millisecond {
		t.Fatalf("a short batch ran after %v, before the wait", waited)
	}
	if got := rec.seen(); !slices.Equal(got, []int{3}) {
		t.Fatalf("batch sizes %v, want one of 3", got)
	}
}

// While a batch runs (one at a time), calls queue up into the next one.
func TestBatcherQueuesBehindARunningBatch(t *testing.T) {
	rec := batchRecorder{hold: make(chan struct{})}
	b := NewBatcher(rec.fn, BatchOptions{MaxBatchSize: 4, WaitTimeout: -1})
	defer b.Close()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = b.Call(context.Background(), 0) })
	waitUntil(t, func() bool { return len(rec.seen()) == 1 })
	for i := 1; i <= 6; i++ {
		wg.Go(func() { _, _ = b.Call(context.Background(), i) })
	}
	waitUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 6 })
	close(rec.hold)
	wg.Wait()
	if got := rec.seen(); !slices.Equal(got, []int{1, 4, 2}) {
		t.Fatalf("batch sizes %v, want 1, then 4 and 2 from the queue", got)
	}
}

func TestBatcherErrors(t *testing.T) {
	boom := errors.New("boom")
	b := NewBatcher(func(ctx context.Context, in []string) ([]string, error) { return nil, boom }, BatchOptions{WaitTimeout: -1})
	if _, err := b.Call(context.Background(), "x"); !errors.Is(err, boom) {
		t.Fatalf("the function's error: %v", err)
	}
	b.Close()
	if _, err := b.Call(context.Background(), "x"); !errors.Is(err, ErrBatcherClosed) {
		t.Fatalf("after Close: %v", err)
	}
	short := NewBatcher(func(ctx context.Context, in []string) ([]string, error) { return in[:0], nil }, BatchOptions{WaitTimeout: -1})
	defer short.Close()
	if _, err := short.Call(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "0 results for 1 inputs") {
		t.Fatalf("too few results: %v", err)
	}
	panicky := NewBatcher(func(ctx context.Context, in []string) ([]string, error) { panic("no") }, BatchOptions{WaitTimeout: -1})
	defer panicky.Close()
	if _, err := panicky.Call(context.Background(), "x"); err == nil || !strings.Contains(err.Error(), "panicked") {
		t.Fatalf("a panic: %v", err)
	}
}

// A caller that leaves before its batch runs is not in it; the batch's
// context ends only when all of its callers have left.
func TestBatcherCallersThatLeave(t *testing.T) {
	var rec batchRecorder
	b := NewBatcher(rec.fn, BatchOptions{MaxBatchSize: 2, WaitTimeout: time.Minute})
	defer b.Close()
	ctx, cancel := context.WithCancel(context.Background())
	left := make(chan error, 1)
	go func() { _, err := b.Call(ctx, 1); left <- err }()
	waitUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 1 })
	cancel()
	if err := <-left; !errors.Is(err, context.Canceled) {
		t.Fatalf("the leaving caller: %v", err)
	}
	var wg sync.WaitGroup
	for i := 2; i <= 3; i++ {
		wg.Go(func() { _, _ = b.Call(context.Background(), i) })
	}
	wg.Wait()
	if got := rec.seen(); !slices.Equal(got, []int{2}) {
		t.Fatalf("batch sizes %v, want one of 2 without the caller that left", got)
	}

	started := make(chan context.Context, 1)
	release := make(chan struct{})
	held := NewBatcher(func(ctx context.Context, in []int) ([]int, error) {
		started <- ctx
		<-release
		return in, nil
	}, BatchOptions{MaxBatchSize: 2, WaitTimeout: time.Minute})
	defer held.Close()
	c1, cancel1 := context.WithCancel(context.Background())
	c2, cancel2 := context.WithCancel(context.Background())
	go func() { _, _ = held.Call(c1, 1) }()
	go func() { _, _ = held.Call(c2, 2) }()
	bctx := <-started
	cancel1()
	time.Sleep(20 * time.Millisecond)
	if bctx.Err() != nil {
		t.Fatal("the batch's context ended while one of its callers remained")
	}
	cancel2()
	select {
	case <-bctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the batch's context did not end when all its callers left")
	}
	close(release)
}

func TestBatcherSetters(t *testing.T) {
	var rec batchRecorder
	b := NewBatcher(rec.fn, BatchOptions{MaxBatchSize: 8, WaitTimeout: time.Minute})
	defer b.Close()
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() { _, _ = b.Call(context.Background(), i) })
	}
	waitUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 2 })
	b.SetMaxBatchSize(2) // the queued two now make a full batch
	wg.Wait()
	wg.Go(func() { _, _ = b.Call(context.Background(), 3) })
	waitUntil(t, func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.queue) == 1 })
	b.SetWaitTimeout(0) // and a lone call runs at once
	wg.Wait()
	if got := rec.seen(); !slices.Equal(got, []int{2, 1}) {
		t.Fatalf("batch sizes %v, want 2 then 1", got)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
