package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// BatchOptions are Ray's @serve.batch arguments.
type BatchOptions struct {
	// MaxBatchSize is the most calls one batch holds (Ray's
	// max_batch_size, 10 by default).
	MaxBatchSize int
	// WaitTimeout is how long a batch waits, from its first call, for more
	// before it runs short (Ray's batch_wait_timeout_s, 0.01 s by
	// default; a negative value runs whatever is queued at once).
	WaitTimeout time.Duration
	// MaxConcurrentBatches is how many batches may run at once (Ray's
	// max_concurrent_batches, 1 by default).
	MaxConcurrentBatches int
}

// ErrBatcherClosed is the error of calls to a closed Batcher.
var ErrBatcherClosed = errors.New("serve: batcher closed")

// Batcher gathers concurrent calls into batches for one function, as Ray
// Serve's @serve.batch does: a handler calls Call once per request, the
// function runs once per batch with every waiting input, and each caller
// gets its own result. A batch runs when it holds MaxBatchSize calls or
// WaitTimeout after its first call, whichever comes first. The function
// must return one result per input, in order; its error is every caller's.
// A caller whose context ends before its batch runs leaves it (and gets
// its context's error); the batch's context ends when every caller in it
// is gone. A replica handles only max_ongoing_requests requests at once
// (5 by default): set it to at least MaxBatchSize, or batches can never
// fill.
//
//	b := serve.NewBatcher(func(ctx context.Context, prompts []string) ([]string, error) {
//		return model.Generate(ctx, prompts) // one call on the accelerator for the batch
//	}, serve.BatchOptions{MaxBatchSize: 8, WaitTimeout: 20 * time.Millisecond})
//	out, err := b.Call(r.Context(), prompt) // in the handler
type Batcher[In, Out any] struct {
	fn       func(ctx context.Context, batch []In) ([]Out, error)
	maxSize  atomic.Int64
	wait     atomic.Int64 // ns
	slots    chan struct{}
	mu       sync.Mutex
	queue    []*batchCall[In, Out]
	arrived  chan struct{} // one signal: the queue grew
	done     chan struct{}
	closeOne sync.Once
}

type batchCall[In, Out any] struct {
	ctx  context.Context
	in   In
	at   time.Time
	out  Out
	err  error
	done chan struct{}
}

// NewBatcher starts a batcher for fn; Close stops it.
func NewBatcher[In, Out any](fn func(ctx context.Context, batch []In) ([]Out, error), opts BatchOptions) *Batcher[In, Out] {
	if opts.MaxBatchSize <= 0 {
		opts.MaxBatchSize = 10
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = 10 * time.Millisecond
	}
	if opts.MaxConcurrentBatches <= 0 {
		opts.MaxConcurrentBatches = 1
	}
	b := &Batcher[In, Out]{fn: fn, slots: make(chan struct{}, opts.MaxConcurrentBatches),
		arrived: make(chan struct{}, 1), done: make(chan struct{})}
	b.maxSize.Store(int64(opts.MaxBatchSize))
	b.wait.Store(int64(max(opts.WaitTimeout, 0)))
	go b.loop()
	return b
}

// SetMaxBatchSize changes the batch size from the next batch on (Ray's
// set_max_batch_size, e.g. from a Reconfigure of the user_config).
func (b *Batcher[In, Out]) SetMaxBatchSize(n int) {
	if n > 0 {
		b.maxSize.Store(int64(n))
		b.signal()
	}
}

// SetWaitTimeout changes the wait from the next batch on (Ray's
// set_batch_wait_timeout_s); 0 or less runs whatever is queued at once.
func (b *Batcher[In, Out]) SetWaitTimeout(d time.Duration) {
	b.wait.Store(int64(max(d, 0)))
	b.signal()
}

// Call adds in to the next batch and waits for its result.
func (b *Batcher[In, Out]) Call(ctx context.Context, in In) (Out, error) {
	c := &batchCall[In, Out]{ctx: ctx, in: in, at: time.Now(), done: make(chan struct{})}
	b.mu.Lock()
	select {
	case <-b.done:
		b.mu.Unlock()
		var zero Out
		return zero, ErrBatcherClosed
	default:
	}
	b.queue = append(b.queue, c)
	b.mu.Unlock()
	b.signal()
	select {
	case <-c.done:
		return c.out, c.err
	case <-ctx.Done():
		// Still queued: the loop drops it. Running: its batch goes on
		// for the others.
		var zero Out
		return zero, ctx.Err()
	}
}

// Close stops taking calls; queued ones get ErrBatcherClosed, running
// batches finish.
func (b *Batcher[In, Out]) Close() {
	b.closeOne.Do(func() {
		b.mu.Lock()
		close(b.done)
		q := b.queue
		b.queue = nil
		b.mu.Unlock()
		for _, c := range q {
			c.err = ErrBatcherClosed
			close(c.done)
		}
	})
}

func (b *Batcher[In, Out]) signal() {
	select {
	case b.arrived <- struct{}{}:
	default:
	}
}

// loop forms batches: it waits for a first call, then until the batch is
// full or its first call has waited WaitTimeout, then for a free slot, and
// runs the batch.
func (b *Batcher[In, Out]) loop() {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b.mu.Lock()
		b.dropGone()
		n, max := len(b.queue), int(b.maxSize.Load())
		var due time.Duration
		if n > 0 {
			due = time.Duration(b.wait.Load()) - time.Since(b.queue[0].at)
		}
		b.mu.Unlock()
		if n == 0 || (n < max && due > 0) {
			if n > 0 {
				timer.Reset(due)
			}
			select {
			case <-b.done:
				return
			case <-b.arrived:
			case <-timer.C:
			}
			timer.Stop()
			continue
		}
		select {
		case b.slots <- struct{}{}:
		case <-b.done:
			return
		}
		b.mu.Lock()
		b.dropGone()
		k := min(len(b.queue), int(b.maxSize.Load()))
		batch := append([]*batchCall[In, Out](nil), b.queue[:k]...)
		b.queue = append(b.queue[:0], b.queue[k:]...)
		b.mu.Unlock()
		if len(batch) == 0 {
			<-b.slots
			continue
		}
		go b.run(batch)
	}
}

// dropGone ends the queued calls whose callers left.
func (b *Batcher[In, Out]) dropGone() {
	kept := b.queue[:0]
	for _, c := range b.queue {
		if err := c.ctx.Err(); err != nil {
			c.err = err
			close(c.done)
			continue
		}
		kept = append(kept, c)
	}
	clear(b.queue[len(kept):])
	b.queue = kept
}

func (b *Batcher[In, Out]) run(batch []*batchCall[In, Out]) {
	defer func() { <-b.slots }()
	ctx, cancel := batchContext(batch)
	defer cancel()
	ins := make([]In, len(batch))
	for i, c := range batch {
		ins[i] = c.in
	}
	outs, err := b.call(ctx, ins)
	if err == nil && len(outs) != len(ins) {
		err = fmt.Errorf("serve: the batch function returned %d results for %d inputs", len(outs), len(ins))
	}
	for i, c := range batch {
		if err != nil {
			c.err = err
		} else {
			c.out = outs[i]
		}
		close(c.done)
	}
}

// call runs the function, turning a panic into the batch's error (the
// replica goes on serving).
func (b *Batcher[In, Out]) call(ctx context.Context, ins []In) (outs []Out, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("serve: the batch function panicked: %v", p)
		}
	}()
	return b.fn(ctx, ins)
}

// batchContext ends when every caller's context has ended, and carries
// the first caller's values.
func batchContext[In, Out any](batch []*batchCall[In, Out]) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(batch[0].ctx))
	left := atomic.Int64{}
	left.Store(int64(len(batch)))
	stops := make([]func() bool, len(batch))
	for i, c := range batch {
		stops[i] = context.AfterFunc(c.ctx, func() {
			if left.Add(-1) == 0 {
				cancel()
			}
		})
	}
	return ctx, func() {
		for _, stop := range stops {
			stop()
		}
		cancel()
	}
}
