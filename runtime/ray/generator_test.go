package ray

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

var count = Generator("sdk.count", func(ctx context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

var failAfter = Generator("sdk.fail_after", func(ctx context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return errors.New("ran dry")
})

// bigItems yields n items of size bytes, item i all byte i, each from the
// same buffer (yield encodes an item before it returns).
var bigItems = Generator2("sdk.big_items", func(ctx context.Context, n, size int, yield func([]byte) error) error {
	buf := make([]byte, size)
	for i := range n {
		for j := range buf {
			buf[j] = byte(i)
		}
		if err := yield(buf); err != nil {
			return err
		}
	}
	return nil
})

// forever yields until its yield fails (cancelled).
var forever = Generator0("sdk.forever", func(ctx context.Context, yield func(int) error) error {
	for i := 0; ; i++ {
		if err := yield(i); err != nil {
			return err
		}
		time.Sleep(5 * time.Millisecond)
	}
})

// crashingGen's worker dies at item 3 the first time (the marker file
// does not exist yet).
var crashingGen = Generator2("sdk.crashing_gen", func(ctx context.Context, marker string, n int, yield func(int) error) error {
	for i := range n {
		if i == 3 {
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o644)
				os.Exit(3)
			}
		}
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

type producer struct {
	mu   sync.Mutex
	made int
}

var producerClass = Actor("sdk.Producer", func(ctx context.Context) (*producer, error) { return &producer{}, nil })

// produce counts the items whose yield returned (the generator went on).
var produce = GeneratorMethod(producerClass, "produce", func(p *producer, ctx context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i * 10); err != nil {
			return err
		}
		p.mu.Lock()
		p.made = i + 1
		p.mu.Unlock()
	}
	return nil
})

var made = Method0(producerClass, "made", func(p *producer, ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.made, nil
})

func drain[E any](t *testing.T, g *ObjectRefGenerator[E]) ([]E, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []E
	for v, err := range g.Values(ctx) {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

func TestGeneratorYieldsInOrder(t *testing.T) {
	got, err := drain(t, count.Remote(context.Background(), 50))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 50 {
		t.Fatalf("got %d items, want 50", len(got))
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("item %d is %d", i, v)
		}
	}
	// An empty stream ends at once.
	if got, err := drain(t, count.Remote(context.Background(), 0)); err != nil || len(got) != 0 {
		t.Fatalf("empty generator: %v, %v", got, err)
	}
}

// The task's error is the item after the ones it yielded; then the end.
func TestGeneratorErrorAtPosition(t *testing.T) {
	ctx := context.Background()
	g := failAfter.Remote(ctx, 2)
	var refs []Ref[int]
	for r, err := range g.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if len(refs) != 3 {
		t.Fatalf("%d refs, want 2 items and the error", len(refs))
	}
	for i := range 2 {
		if v, err := Get(ctx, refs[i]); v != i || err != nil {
			t.Fatalf("item %d: %d, %v", i, v, err)
		}
	}
	var te *TaskError
	if _, err := Get(ctx, refs[2]); !errors.As(err, &te) || te.Message != "ran dry" {
		t.Fatalf("the third ref: %v, want the task's error", err)
	}
	if _, err := g.Next(ctx); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after the error: %v, want ErrEndOfStream", err)
	}
	got, err := drain(t, failAfter.Remote(ctx, 1))
	if len(got) != 1 || !errors.As(err, &te) {
		t.Fatalf("Values: %v, %v; want one value then the error", got, err)
	}
}

// Large items live in the object store; an item's ref is an ordinary ref.
func TestGeneratorLargeItemsAndRefsAsArguments(t *testing.T) {
	ctx := context.Background()
	got, err := drain(t, bigItems.Remote(ctx, 3, 300<<10))
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if len(b) != 300<<10 || !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, len(b))) {
			t.Fatalf("item %d: len %d", i, len(b))
		}
	}
	g := count.Remote(ctx, 3)
	_, _ = g.Next(ctx)
	r, err := g.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Get(ctx, double.Remote(ctx, r)); v != 2 || err != nil {
		t.Fatalf("double(item 1) = %d, %v", v, err)
	}
	if got := double.Remote(ctx, g); got.Err() == nil {
		t.Fatal("a generator passed as an argument was accepted")
	}
}

// With backpressure 2 the generator (an actor method here) goes on only
// while fewer than 2 of its items are unconsumed: it has finished at most
// consumed+1 yields. Waiting shows a generator without the pause running
// ahead; a correct one never fails the check.
func TestGeneratorBackpressureOnActor(t *testing.T) {
	ctx := context.Background()
	h, err := producerClass.Remote(ctx, MaxConcurrency(2))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, h, true) }()
	g := produce.Remote(ctx, h, 10, GeneratorBackpressure(2))
	madeNow := func() int {
		n, err := Get(ctx, made.Remote(ctx, h))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for consumed := 0; consumed < 3; consumed++ {
		deadline := time.Now().Add(20 * time.Second)
		for madeNow() < consumed+1 {
			if time.Now().After(deadline) {
				t.Fatalf("the generator did not reach %d items", consumed+1)
			}
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(300 * time.Millisecond)
		if n := madeNow(); n > consumed+1 {
			t.Fatalf("with %d consumed the generator went on to %d items, want at most %d", consumed, n, consumed+1)
		}
		if _, err := g.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	rest, err := drain(t, g)
	if err != nil || len(rest) != 7 || rest[0] != 30 || rest[6] != 90 {
		t.Fatalf("the rest: %v, %v", rest, err)
	}
}

// Cancel stops the generator: the stream ends with TaskCancelledError.
func TestGeneratorCancel(t *testing.T) {
	ctx := context.Background()
	g := forever.Remote(ctx)
	for range 3 {
		if _, err := g.Next(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if err := Cancel(g, false); err != nil {
		t.Fatal(err)
	}
	var last error
	n := 0
	for v, err := range g.Values(ctx) {
		_ = v
		last = err
		if n++; n > 10000 {
			t.Fatal("the generator did not stop")
		}
	}
	var ce *TaskCancelledError
	if !errors.As(last, &ce) {
		t.Fatalf("the stream ended with %v, want TaskCancelledError", last)
	}
}

// A worker that dies mid-stream: the retry runs the generator again and
// the stream goes on after the items already delivered, each exactly once.
func TestGeneratorRetryAfterWorkerCrash(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "crashed")
	got, err := drain(t, crashingGen.Remote(context.Background(), marker, 8))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatal("the first attempt did not crash")
	}
	if len(got) != 8 {
		t.Fatalf("got %v, want 0..7 once each", got)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("got %v, want 0..7 once each", got)
		}
	}
	// Without retries the crash is the stream's error, after the items
	// of the first attempt that reached the owner before its worker died
	// (yield does not wait for the owner: some may not have).
	marker2 := filepath.Join(t.TempDir(), "crashed")
	got, err = drain(t, crashingGen.Remote(context.Background(), marker2, 8, MaxRetries(0)))
	var wc *WorkerCrashedError
	if !errors.As(err, &wc) || len(got) > 3 || !slices.Equal(got, []int{0, 1, 2}[:len(got)]) {
		t.Fatalf("without retries: %v then %v, want a prefix of 0..2 then WorkerCrashedError", got, err)
	}
}

func TestGeneratorNextDeadline(t *testing.T) {
	ctx := context.Background()
	// A call on no actor: its error is the stream's first item.
	g := produce.Remote(ctx, ActorHandle[producer]{}, 1)
	r, err := g.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var died *ActorDiedError
	if _, err := Get(ctx, r); !errors.As(err, &died) {
		t.Fatalf("item of a call on no actor: %v, want ActorDiedError", err)
	}
	g2 := forever.Remote(ctx, GeneratorBackpressure(1))
	defer func() { _ = Cancel(g2, false) }()
	if _, err := g2.Next(ctx); err != nil {
		t.Fatal(err)
	}
	// Backpressure 1: nothing more is made until the consumer takes this
	// one... which it did. The next waits for at most one more.
	if _, err := g2.Next(ctx); err != nil {
		t.Fatal(err)
	}
	dctx, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-dctx.Done()
	for {
		_, err := g2.Next(dctx)
		if err == nil {
			continue // items already there come without waiting
		}
		var gt *GetTimeoutError
		if !errors.As(err, &gt) {
			t.Fatalf("Next past its deadline: %v, want GetTimeoutError", err)
		}
		break
	}
}

// crashingMethod's actor process dies at item 3 the first time.
var crashingMethod = GeneratorMethod(producerClass, "crashing", func(p *producer, ctx context.Context, marker string, yield func(int) error) error {
	for i := range 6 {
		if i == 3 {
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o644)
				os.Exit(3)
			}
		}
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// An actor that dies mid-stream and is restarted: with MaxTaskRetries the
// call runs again on the new incarnation and the stream goes on after the
// items delivered, each once; without, the actor's death ends the stream.
func TestActorGeneratorRetriedOnRestart(t *testing.T) {
	ctx := context.Background()
	h, err := producerClass.Remote(ctx, MaxRestarts(1))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, h, true) }()
	marker := filepath.Join(t.TempDir(), "crashed")
	got, err := drain(t, crashingMethod.Remote(ctx, h, marker, MaxTaskRetries(1)))
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 3, 4, 5}) {
		t.Fatalf("got %v, %v; want 0..5 once each", got, err)
	}
	h2, err := producerClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, h2, true) }()
	marker2 := filepath.Join(t.TempDir(), "crashed")
	got, err = drain(t, crashingMethod.Remote(ctx, h2, marker2))
	var died *ActorDiedError
	if !errors.As(err, &died) || len(got) > 3 || !slices.Equal(got, []int{0, 1, 2}[:len(got)]) {
		t.Fatalf("without retries: %v then %v, want a prefix of 0..2 then ActorDiedError", got, err)
	}
}

// flakyGen fails at item 2 the first time (the marker does not exist yet).
var flakyGen = Generator("sdk.flaky_gen", func(ctx context.Context, marker string, yield func(int) error) error {
	for i := range 5 {
		if i == 2 {
			if _, err := os.Stat(marker); err != nil {
				_ = os.WriteFile(marker, nil, 0o644)
				return errors.New("flaky")
			}
		}
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// With RetryExceptions a generator's own error retries it like a task's,
// and the stream goes on after the items delivered; without, the error is
// the stream's item at its position.
func TestGeneratorRetryExceptions(t *testing.T) {
	ctx := context.Background()
	got, err := drain(t, flakyGen.Remote(ctx, filepath.Join(t.TempDir(), "failed"), RetryExceptions()))
	if err != nil || !slices.Equal(got, []int{0, 1, 2, 3, 4}) {
		t.Fatalf("with RetryExceptions: %v, %v; want 0..4 once each", got, err)
	}
	got, err = drain(t, flakyGen.Remote(ctx, filepath.Join(t.TempDir(), "failed")))
	var te *TaskError
	if !errors.As(err, &te) || !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("without: %v then %v, want 0, 1 then the error", got, err)
	}
}

// sumOfCount consumes a generator inside a task: the task's worker owns
// the stream.
var sumOfCount = Task("sdk.sum_of_count", func(ctx context.Context, n int) (int, error) {
	sum := 0
	for v, err := range count.Remote(ctx, n, GeneratorBackpressure(4)).Values(ctx) {
		if err != nil {
			return 0, err
		}
		sum += v
	}
	return sum, nil
})

func TestGeneratorConsumedInsideATask(t *testing.T) {
	ctx := context.Background()
	if got, err := Get(ctx, sumOfCount.Remote(ctx, 100)); err != nil || got != 4950 {
		t.Fatalf("sum of 0..99 in a task: %d, %v", got, err)
	}
}

// A consumer of two generators takes from whichever has output (Ready, as
// ray.wait on generators) and gets every item of each, in each one's order.
func TestGeneratorReadySelect(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	gens := []*ObjectRefGenerator[int]{count.Remote(ctx, 30), slowCount.Remote(ctx, 5)}
	got := make([][]int, 2)
	ended := make([]bool, 2)
	for !ended[0] || !ended[1] {
		var i int
		select {
		case <-readyOrNever(gens[0], ended[0]):
			i = 0
		case <-readyOrNever(gens[1], ended[1]):
			i = 1
		case <-ctx.Done():
			t.Fatalf("no generator ready; got %v", got)
		}
		r, err := gens[i].Next(ctx)
		if errors.Is(err, ErrEndOfStream) {
			ended[i] = true
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		v, err := Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		got[i] = append(got[i], v)
	}
	for i, n := range []int{30, 5} {
		if len(got[i]) != n {
			t.Fatalf("generator %d: %v", i, got[i])
		}
		for j, v := range got[i] {
			if v != j {
				t.Fatalf("generator %d: %v", i, got[i])
			}
		}
	}
}

func readyOrNever(g *ObjectRefGenerator[int], ended bool) <-chan struct{} {
	if ended {
		return nil // a nil channel never fires in a select
	}
	return g.Ready()
}

// slowCount yields 0..n-1 slowly.
var slowCount = Generator("sdk.slow_count", func(ctx context.Context, n int, yield func(int) error) error {
	for i := range n {
		time.Sleep(20 * time.Millisecond)
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

// A task submitted while a long generator runs does not wait behind it:
// the queue of sub-millisecond tasks pipelines many onto one leased
// worker, but never onto the generator's (which would hold them until the
// generator ends, and forever under backpressure with a consumer waiting
// on them).
func TestTaskNotQueuedBehindAGenerator(t *testing.T) {
	ctx := context.Background()
	warm := make([]Ref[int], 200)
	for i := range warm {
		warm[i] = double.Remote(ctx, i) // the shape's queue becomes "fast"
	}
	if _, err := GetAll(ctx, warm...); err != nil {
		t.Fatal(err)
	}
	g := forever.Remote(ctx, GeneratorBackpressure(1))
	defer func() { _ = Cancel(g, false) }()
	if _, err := g.Next(ctx); err != nil { // it runs
		t.Fatal(err)
	}
	for i := range 20 {
		if v, err := GetWithTimeout(ctx, double.Remote(ctx, i), 20*time.Second); err != nil || v != 2*i {
			t.Fatalf("task %d while a generator runs: %d, %v", i, v, err)
		}
	}
}

// An actor's call and a generator method after it, sent in one batch
// (both queued while the caller connects to the new actor): the call's
// result comes back before the generator's stream ends.
func TestActorCallResultNotHeldByAGenerator(t *testing.T) {
	ctx := context.Background()
	h, err := producerClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, h, true) }()
	call := made.Remote(ctx, h)
	g := produce.Remote(ctx, h, 5, GeneratorBackpressure(1))
	if _, err := GetWithTimeout(ctx, call, 20*time.Second); err != nil {
		t.Fatalf("the call before the generator: %v", err)
	}
	got, err := drain(t, g)
	if err != nil || len(got) != 5 {
		t.Fatalf("the generator: %v, %v", got, err)
	}
}
