package ray

import (
	"context"
	"errors"
	"fmt"
	"iter"

	"github.com/goray-dev/goray/runtime/codec"
	"github.com/goray-dev/goray/runtime/core"
)

// Streaming generators (Ray's num_returns="streaming" and
// ObjectRefGenerator): a task or actor method that yields values as it
// goes. The caller gets an ObjectRefGenerator whose Next returns a Ref to
// each value, in order, as soon as it was yielded, long before the task
// ends: the base of streaming data pipelines and streamed responses.
//
//	var Count = ray.Generator("count", func(ctx context.Context, n int, yield func(int) error) error {
//		for i := range n {
//			if err := yield(i); err != nil {
//				return err // cancelled, or the owner is gone
//			}
//		}
//		return nil
//	})
//
//	gen := Count.Remote(ctx, 3)
//	for ref, err := range gen.All(ctx) { ... ray.Get(ctx, ref) ... }
//
// yield encodes the value before it returns: the generator may reuse the
// memory of a value it yielded (a buffer it yields again and again).

// ErrEndOfStream is returned by Next after the last item (Ray's StopIteration).
var ErrEndOfStream = core.ErrEndOfStream

// GeneratorFunc is a registered generator task yielding values of type E.
type GeneratorFunc[E any] struct {
	name  string
	arity int
}

// Name is the generator's registered name.
func (f *GeneratorFunc[E]) Name() string { return f.name }

// typedYield turns the core's byte yield into one of E. A large string or
// byte slice is encoded straight into the memory it is stored from, as
// Put does: no encoded copy of its own.
func typedYield[E any](y core.Yield) func(E) error {
	return func(v E) error {
		if n, ok := codec.EncodedSize(v); ok && n > core.InlineThreshold {
			return y.Sized(int64(n), func(dst []byte) { codec.EncodeTo(dst, v) })
		}
		b, err := encodeNoRefs(v, "the item")
		if err != nil {
			return fmt.Errorf("yield: %w", err)
		}
		return y.Item(b)
	}
}

// Generator0 registers a generator task without arguments.
func Generator0[E any](name string, fn func(ctx context.Context, yield func(E) error) error) *GeneratorFunc[E] {
	core.RegisterGenFunc(name, func(ctx context.Context, args [][]byte, y core.Yield) error {
		return fn(ctx, typedYield[E](y))
	})
	return &GeneratorFunc[E]{name: name}
}

// Generator registers a one-argument generator task. fn yields each value
// with yield, which returns an error when fn must stop (the task was
// cancelled, its owner is gone); fn's own error ends the stream with that
// error as its last item. Call it at package level, like Task.
func Generator[A, E any](name string, fn func(ctx context.Context, a A, yield func(E) error) error) *GeneratorFunc[E] {
	core.RegisterGenFunc(name, func(ctx context.Context, args [][]byte, y core.Yield) error {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return err
		}
		return fn(ctx, a, typedYield[E](y))
	})
	return &GeneratorFunc[E]{name: name, arity: 1}
}

// Generator2 registers a two-argument generator task.
func Generator2[A, B, E any](name string, fn func(ctx context.Context, a A, b B, yield func(E) error) error) *GeneratorFunc[E] {
	core.RegisterGenFunc(name, func(ctx context.Context, args [][]byte, y core.Yield) error {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return err
		}
		b, err := decodeArg[B](args, 1)
		if err != nil {
			return err
		}
		return fn(ctx, a, b, typedYield[E](y))
	})
	return &GeneratorFunc[E]{name: name, arity: 2}
}

// Remote submits the generator task. Arguments and Options are those of a
// task's Remote, plus GeneratorBackpressure. A system failure (its worker
// or node dies) retries it like a task (MaxRetries): the retry runs it
// again from the start and the stream goes on after the items it already
// had.
func (f *GeneratorFunc[E]) Remote(ctx context.Context, args ...any) *ObjectRefGenerator[E] {
	w, err := worker()
	if err != nil {
		return &ObjectRefGenerator[E]{err: err}
	}
	opts := new(callOptions)
	cargs, err := splitArgs(w, args, f.arity, opts, nil)
	if ae, ok := asArityError(err); ok {
		return &ObjectRefGenerator[E]{err: fmt.Errorf("generator %s takes %d arguments, got %d", f.name, ae.want, ae.got)}
	}
	if err != nil {
		return &ObjectRefGenerator[E]{err: fmt.Errorf("generator %s: %w", f.name, err)}
	}
	topts := opts.taskOptions()
	topts.Parent = core.ParentTask(ctx)
	return &ObjectRefGenerator[E]{g: w.SubmitGenerator(f.name, cargs, topts)}
}

// GeneratorMethodFunc is a registered generator method of actor class S.
type GeneratorMethodFunc[S, E any] struct {
	name  string
	arity int
}

// GeneratorMethod0 registers a generator method without arguments.
func GeneratorMethod0[S, E any](c *ActorClass[S], name string, fn func(s *S, ctx context.Context, yield func(E) error) error) *GeneratorMethodFunc[S, E] {
	full := c.name + "." + name
	core.RegisterGenMethod(full, func(ctx context.Context, inst any, args [][]byte, y core.Yield) error {
		return fn(inst.(*S), ctx, typedYield[E](y))
	})
	return &GeneratorMethodFunc[S, E]{name: full}
}

// GeneratorMethod registers a one-argument generator method.
func GeneratorMethod[S, A, E any](c *ActorClass[S], name string, fn func(s *S, ctx context.Context, a A, yield func(E) error) error) *GeneratorMethodFunc[S, E] {
	full := c.name + "." + name
	core.RegisterGenMethod(full, func(ctx context.Context, inst any, args [][]byte, y core.Yield) error {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return err
		}
		return fn(inst.(*S), ctx, a, typedYield[E](y))
	})
	return &GeneratorMethodFunc[S, E]{name: full, arity: 1}
}

// GeneratorMethod2 registers a two-argument generator method.
func GeneratorMethod2[S, A, B, E any](c *ActorClass[S], name string, fn func(s *S, ctx context.Context, a A, b B, yield func(E) error) error) *GeneratorMethodFunc[S, E] {
	full := c.name + "." + name
	core.RegisterGenMethod(full, func(ctx context.Context, inst any, args [][]byte, y core.Yield) error {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return err
		}
		b, err := decodeArg[B](args, 1)
		if err != nil {
			return err
		}
		return fn(inst.(*S), ctx, a, b, typedYield[E](y))
	})
	return &GeneratorMethodFunc[S, E]{name: full, arity: 2}
}

// Remote calls the generator method on an actor (in order with the
// caller's other calls to it).
func (m *GeneratorMethodFunc[S, E]) Remote(ctx context.Context, h ActorHandle[S], args ...any) *ObjectRefGenerator[E] {
	w, cargs, opts, retries, err := prepareCall(m.name, m.arity, h.maxTaskRetries, h.h, args, nil)
	if err != nil {
		return &ObjectRefGenerator[E]{err: err}
	}
	return &ObjectRefGenerator[E]{g: w.SubmitActorGenerator(h.ID, m.name, cargs, retries, opts.rebuilds(retries), opts.backpressure, opts.actorCall(ctx))}
}

// ObjectRefGenerator is the caller's end of a generator task: the Refs of
// the values it yields, in order. Only the process that submitted it reads
// it (pass the items' Refs to other tasks, not the generator).
type ObjectRefGenerator[E any] struct {
	g   *core.Generator
	err error
}

// Err is an error that kept the generator from being submitted (Next
// returns it too).
func (g *ObjectRefGenerator[E]) Err() error { return g.err }

// ID is the generator task's id.
func (g *ObjectRefGenerator[E]) ID() string {
	if g.g == nil {
		return ""
	}
	return g.g.Handle().ID
}

func (g *ObjectRefGenerator[E]) handle() *core.Handle {
	if g.g == nil {
		return nil
	}
	return g.g.Handle()
}

func (g *ObjectRefGenerator[E]) isGenerator() {}

// Next waits for the next value the task yields and returns its Ref, or
// ErrEndOfStream after the last. When the task failed, the Ref at the
// position it failed holds its error (Get returns it) and the stream ends
// after it. A deadline on ctx bounds the wait (GetTimeoutError).
func (g *ObjectRefGenerator[E]) Next(ctx context.Context) (Ref[E], error) {
	if g.err != nil {
		return Ref[E]{}, g.err
	}
	h, err := g.g.Next(ctx)
	if err != nil {
		return Ref[E]{}, err
	}
	return Ref[E]{h: h}, nil
}

// Ready returns a channel that is closed once Next would not wait: the
// next item is there, or the end. It is Ray's ray.wait on generators:
// select on the channels of several generators to take from whichever has
// output first.
//
//	select {
//	case <-a.Ready():
//		ref, err := a.Next(ctx)
//	case <-b.Ready():
//		ref, err := b.Next(ctx)
//	}
func (g *ObjectRefGenerator[E]) Ready() <-chan struct{} {
	if g.g == nil {
		return closed
	}
	return g.g.Ready()
}

var closed = func() chan struct{} {
	ch := make(chan struct{})
	close(ch)
	return ch
}()

// All ranges over the Refs of the stream until its end; a wait that fails
// (ctx) is yielded as the last pair's error.
func (g *ObjectRefGenerator[E]) All(ctx context.Context) iter.Seq2[Ref[E], error] {
	return func(yield func(Ref[E], error) bool) {
		for {
			r, err := g.Next(ctx)
			if errors.Is(err, ErrEndOfStream) {
				return
			}
			if !yield(r, err) || err != nil {
				return
			}
		}
	}
}

// Values ranges over the stream's values (Get of each Ref, in order); the
// task's error, or a failed wait, is the last pair's error.
func (g *ObjectRefGenerator[E]) Values(ctx context.Context) iter.Seq2[E, error] {
	return func(yield func(E, error) bool) {
		for r, err := range g.All(ctx) {
			var v E
			if err == nil {
				v, err = Get(ctx, r)
			}
			if !yield(v, err) || err != nil {
				return
			}
		}
	}
}

// Release drops the generator now (else the garbage collector does once it
// is unreachable): values not yet taken by Next are freed, and the task no
// longer pauses for backpressure. The task keeps running, as in Ray;
// Cancel(gen, force) stops it. Refs already taken stay valid.
func (g *ObjectRefGenerator[E]) Release() {
	if g.g != nil {
		g.g.Release()
	}
}
