package ray

import (
	"context"
	"fmt"
	"time"

	"github.com/goray-dev/goray/runtime/codec"
	"github.com/goray-dev/goray/runtime/core"
)

// Put stores a value in the cluster and returns its reference.
func Put[T any](ctx context.Context, v T) (Ref[T], error) {
	w, err := worker()
	if err != nil {
		return Ref[T]{}, err
	}
	if n, ok := codec.EncodedSize(v); ok && n > core.InlineThreshold {
		// Large strings and byte slices are encoded straight into store memory.
		h, err := w.PutSized(ctx, int64(n), func(dst []byte) { codec.EncodeTo(dst, v) })
		if err != nil {
			return Ref[T]{}, err
		}
		return Ref[T]{h: h}, nil
	}
	b, hs, err := encodeValue(v)
	if err != nil {
		return Ref[T]{}, err
	}
	// The object holds the Refs inside the value while it lives.
	h, err := w.PutContaining(ctx, b, hs)
	if err != nil {
		return Ref[T]{}, err
	}
	return Ref[T]{h: h}, nil
}

// Get waits for a reference's value. A deadline on ctx bounds the wait
// (GetTimeoutError); task failures come back as the typed errors of this package.
func Get[T any](ctx context.Context, r Ref[T]) (T, error) {
	var zero T
	if r.err != nil {
		return zero, r.err
	}
	if r.h == nil {
		return zero, fmt.Errorf("get of an empty Ref")
	}
	if r.h.Released() {
		return zero, fmt.Errorf("get of object %s after its Ref was released", r.h.ID)
	}
	w, err := worker()
	if err != nil {
		return zero, err
	}
	b, done, err := w.GetValue(ctx, r.h.ID, r.h.Owner)
	if err != nil {
		return zero, err
	}
	// The Refs inside the value are held until they are decoded (each
	// decoded Ref holds its object from then on).
	var v T
	err = codec.Decode(b, &v)
	done()
	if err != nil {
		return zero, fmt.Errorf("object %s: %w", r.h.ID, err)
	}
	return v, nil
}

// GetWithTimeout is Get bounded by a timeout.
func GetWithTimeout[T any](ctx context.Context, r Ref[T], timeout time.Duration) (T, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return Get(ctx, r)
}

// GetAll waits for every reference, in order; the first error wins.
func GetAll[T any](ctx context.Context, refs ...Ref[T]) ([]T, error) {
	out := make([]T, len(refs))
	for i, r := range refs {
		v, err := Get(ctx, r)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

// Wait returns once numReturns of refs are ready or timeout passes (timeout
// <= 0 waits without limit). Both lists keep the input order. A Ref owned by
// another process (a borrowed one) is ready when its owner says so; one
// whose owner cannot be reached counts as ready (its Get reports
// OwnerDiedError). As Ray's ray.wait with fetch_local=False, a ready stored
// object is not fetched to this node first.
func Wait[T any](ctx context.Context, refs []Ref[T], numReturns int, timeout time.Duration) (ready, notReady []Ref[T], err error) {
	w, err := worker()
	if err != nil {
		return nil, nil, err
	}
	if numReturns > len(refs) {
		return nil, nil, fmt.Errorf("numReturns %d is more than the %d refs", numReturns, len(refs))
	}
	// Refs owned here are checked together under one lock; the others ask
	// their owners (status calls, ended by cancel on return).
	own := w.Address()
	local := func(i int) string {
		if h := refs[i].h; h != nil && h.Owner == own {
			return h.ID
		}
		return ""
	}
	isReady := make([]bool, len(refs))
	chans := make([]<-chan struct{}, len(refs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	var wake chan struct{}
	var watched []bool
	var stop chan struct{}
	defer func() {
		if stop != nil {
			close(stop)
		}
	}()
	var waiting func()
	for {
		w.ReadyMany(len(refs), local, isReady, chans)
		n := 0
		for i, r := range refs {
			ok := r.h == nil || isReady[i]
			if !ok && local(i) == "" {
				if chans[i] == nil {
					chans[i] = w.ReadyRemote(ctx, r.h.ID, r.h.Owner)
				}
				select {
				case <-chans[i]:
					ok = true
				default:
				}
			}
			isReady[i] = ok
			if ok {
				n++
			}
		}
		// The lists are made once, on return, at their final sizes (no
		// growing a slice of Refs a thousand long on every wake-up).
		lists := func() ([]Ref[T], []Ref[T]) {
			ready, notReady := make([]Ref[T], 0, n), make([]Ref[T], 0, len(refs)-n)
			for i, r := range refs {
				if isReady[i] {
					ready = append(ready, r)
				} else {
					notReady = append(notReady, r)
				}
			}
			return ready, notReady
		}
		if n >= numReturns || n == len(refs) {
			ready, notReady = lists()
			return ready, notReady, nil
		}
		if stop == nil {
			wake, watched, stop = make(chan struct{}, len(refs)), make([]bool, len(refs)), make(chan struct{})
		}
		for i := range refs {
			if isReady[i] || watched[i] {
				continue
			}
			watched[i] = true
			ch := chans[i]
			go func() {
				select {
				case <-ch:
					wake <- struct{}{}
				case <-stop:
				}
			}()
		}
		if waiting == nil {
			waiting = w.Waiting() // a task's CPUs are lent meanwhile
			defer waiting()
		}
		select {
		case <-wake:
		case <-ctx.Done():
			ready, notReady = lists()
			return ready, notReady, nil
		}
	}
}

// Cancel cancels the task behind a reference: a queued task is dropped, a
// running one has its context cancelled (force: its worker process is
// killed). Get then returns TaskCancelledError. As Ray's ray.cancel, it is
// recursive by default: the tasks and actor calls the task submitted (with
// its context) are cancelled too, and theirs; Recursive(false) cancels the
// task alone.
func Cancel(r ObjectRef, force bool, opts ...CancelOption) error {
	w, err := worker()
	if err != nil {
		return err
	}
	if r.handle() == nil {
		return fmt.Errorf("cancel of an empty Ref")
	}
	c := cancelOptions{recursive: true}
	for _, o := range opts {
		o(&c)
	}
	return w.Cancel(r.handle().ID, force, c.recursive)
}

// CancelOption is an option of Cancel.
type CancelOption func(*cancelOptions)

type cancelOptions struct{ recursive bool }

// Recursive sets whether Cancel cancels what the task submitted too (Ray's
// recursive=; true by default).
func Recursive(on bool) CancelOption { return func(c *cancelOptions) { c.recursive = on } }
