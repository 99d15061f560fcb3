package ray

import (
	"context"
	"errors"
	"fmt"

	"github.com/goray-dev/goray/runtime/codec"
	"github.com/goray-dev/goray/runtime/core"
)

// Ref is a typed reference to a (future) value owned by the process that created it.
type Ref[T any] struct {
	h   *core.Handle
	err error
}

// ID is the object's id.
func (r Ref[T]) ID() string {
	if r.h == nil {
		return ""
	}
	return r.h.ID
}

// OwnerAddress is the address of the process that owns the object (Ray's
// ObjectRef.owner_address): this one for its puts and the tasks it
// submitted, another for a Ref it got inside a value (a borrowed one).
func (r Ref[T]) OwnerAddress() string {
	if r.h == nil {
		return ""
	}
	return r.h.Owner
}

// Err is an error that kept the ref from being created (Get returns it too).
func (r Ref[T]) Err() error { return r.err }

// Release drops this reference now instead of when the garbage collector
// finds it unreachable, like `del ref` in Python: the object is freed once
// no reference (here, in tasks or in borrowers) remains. A Ref and its
// copies are one reference; none of them may be used after Release.
func (r Ref[T]) Release() { r.h.Release() }

func (r Ref[T]) handle() *core.Handle { return r.h }

// ObjectRef is any Ref, whatever its type.
type ObjectRef interface{ handle() *core.Handle }

// RemoteFunc is a registered task returning R.
type RemoteFunc[R any] struct {
	name  string
	arity int
}

// Name is the task's registered name.
func (f *RemoteFunc[R]) Name() string { return f.name }

func decodeArg[A any](args [][]byte, i int) (A, error) {
	var a A
	if i >= len(args) {
		return a, fmt.Errorf("missing argument %d", i)
	}
	if err := codec.Decode(args[i], &a); err != nil {
		return a, fmt.Errorf("argument %d: %w", i, err)
	}
	return a, nil
}

// encodeResult encodes a task's or actor method's result; the Refs inside
// it go to the executor (core.SetResultRefs), which registers the result's
// owner as their borrower before replying.
func encodeResult[R any](ctx context.Context, r R, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	b, hs, err := encodeValue(r)
	if err != nil {
		return nil, err
	}
	if len(hs) > 0 && !core.SetResultRefs(ctx, hs) {
		return nil, fmt.Errorf("a result holding Refs outside a task's execution")
	}
	return b, nil
}

// Task0 registers a task without arguments.
func Task0[R any](name string, fn func(ctx context.Context) (R, error)) *RemoteFunc[R] {
	registerTask(name, func(ctx context.Context, args [][]byte) (R, error) { return fn(ctx) })
	return &RemoteFunc[R]{name: name}
}

// Task registers a one-argument task. Call it at package level so worker
// processes (the same executable) register it too.
func Task[A, R any](name string, fn func(ctx context.Context, a A) (R, error)) *RemoteFunc[R] {
	registerTask(name, func(ctx context.Context, args [][]byte) (R, error) {
		a, err := decodeArg[A](args, 0)
		if err != nil {
			var zero R
			return zero, err
		}
		return fn(ctx, a)
	})
	return &RemoteFunc[R]{name: name, arity: 1}
}

// Task2 registers a two-argument task.
func Task2[A, B, R any](name string, fn func(ctx context.Context, a A, b B) (R, error)) *RemoteFunc[R] {
	registerTask(name, func(ctx context.Context, args [][]byte) (R, error) {
		var zero R
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return zero, err
		}
		b, err := decodeArg[B](args, 1)
		if err != nil {
			return zero, err
		}
		return fn(ctx, a, b)
	})
	return &RemoteFunc[R]{name: name, arity: 2}
}

// Task3 registers a three-argument task.
func Task3[A, B, C, R any](name string, fn func(ctx context.Context, a A, b B, c C) (R, error)) *RemoteFunc[R] {
	registerTask(name, func(ctx context.Context, args [][]byte) (R, error) {
		var zero R
		a, err := decodeArg[A](args, 0)
		if err != nil {
			return zero, err
		}
		b, err := decodeArg[B](args, 1)
		if err != nil {
			return zero, err
		}
		c, err := decodeArg[C](args, 2)
		if err != nil {
			return zero, err
		}
		return fn(ctx, a, b, c)
	})
	return &RemoteFunc[R]{name: name, arity: 3}
}

// TaskVar registers a task taking any number of arguments of one type,
// like a Python function's *args: each argument is a value or a Ref (all
// resolved before the task runs), and fn gets them in order. Libraries use
// it to gather many objects into one task (a shuffle's reduce takes one
// part from every map task).
//
//	var Sum = ray.TaskVar("sum", func(ctx context.Context, xs []int) (int, error) { ... })
//	total := Sum.Remote(ctx, 1, ref2, 3)
func TaskVar[A, R any](name string, fn func(ctx context.Context, args []A) (R, error)) *RemoteFunc[R] {
	registerTask(name, func(ctx context.Context, args [][]byte) (R, error) {
		xs := make([]A, len(args))
		for i := range args {
			a, err := decodeArg[A](args, i)
			if err != nil {
				var zero R
				return zero, err
			}
			xs[i] = a
		}
		return fn(ctx, xs)
	})
	return &RemoteFunc[R]{name: name, arity: variadic}
}

// variadic is the arity of a TaskVar: any number of arguments.
const variadic = -1

// splitArgs separates options from arguments and encodes the arguments
// (a Ref is passed by reference and resolved before the task runs; Refs
// inside a value are passed as Refs, held until the task finished).
// arity is the number of arguments the callee takes (variadic: any); on
// any error the holds taken go again.
//
// The options go into *opts and the arguments into buf's memory when it
// has room: a caller that passes its own (on its stack) allocates neither
// for a call without Options.
func splitArgs(w *core.Worker, in []any, arity int, opts *callOptions, buf []core.Arg) (_ []core.Arg, err error) {
	args := buf[:0]
	defer func() {
		if err != nil {
			w.ReleaseArgs(args)
		}
	}()
	*opts = callOptions{maxRetries: 3}
	for i, x := range in {
		switch v := x.(type) {
		case Option:
			applyOption(v, opts)
		case interface{ isGenerator() }:
			return nil, fmt.Errorf("argument %d is a generator: pass the refs of its items instead", i)
		case ObjectRef:
			if v.handle() == nil {
				if e, ok := x.(interface{ Err() error }); ok && e.Err() != nil {
					return nil, fmt.Errorf("argument %d: %w", i, e.Err())
				}
				return nil, fmt.Errorf("argument %d is an empty Ref", i)
			}
			a := core.Arg{Ref: v.handle()}
			if a.Ref.Owner != w.Address() {
				// A borrowed reference: held until the task finished, as
				// the owner counts its own ones (see runtime/ownership).
				if a.Holds, err = w.Hold([]*core.Handle{a.Ref}); err != nil {
					return nil, fmt.Errorf("argument %d: %w", i, err)
				}
			}
			args = append(args, a)
		default:
			b, hs, err := encodeValue(x)
			if err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			a := core.Arg{Value: b}
			if a.Holds, err = w.Hold(hs); err != nil {
				return nil, fmt.Errorf("argument %d: %w", i, err)
			}
			args = append(args, a)
		}
	}
	if err := opts.finish(); err != nil {
		return nil, err
	}
	if arity != variadic && len(args) != arity {
		return nil, &arityError{want: arity, got: len(args)}
	}
	return args, nil
}

// applyOption applies o to opts through a copy: an Option is an interface,
// so what its apply is handed escapes, and opts stays where its caller
// keeps it (on its stack) for calls without Options.
func applyOption(o Option, opts *callOptions) {
	c := new(callOptions)
	*c = *opts
	o.apply(c)
	*opts = *c
}

// arityError is a call with the wrong number of arguments.
type arityError struct{ want, got int }

// asArityError is errors.As for an arityError, allocating only for an
// error (As's target escapes: once per call on the hot path otherwise).
func asArityError(err error) (*arityError, bool) {
	if err == nil {
		return nil, false
	}
	var ae *arityError
	ok := errors.As(err, &ae)
	return ae, ok
}

func (e *arityError) Error() string { return fmt.Sprintf("takes %d arguments, got %d", e.want, e.got) }

// Remote submits the task. Arguments are values or Refs (resolved to their
// values before the task runs), mixed with Options.
func (f *RemoteFunc[R]) Remote(ctx context.Context, args ...any) Ref[R] {
	var buf [2]core.Arg
	w, cargs, opts, err := f.prepare(args, buf[:0])
	if err != nil {
		return Ref[R]{err: err}
	}
	opts.Parent = core.ParentTask(ctx)
	return Ref[R]{h: w.SubmitTask(f.name, cargs, opts)}
}

// prepare checks and encodes a call's arguments (into buf's memory when it
// has room) and options.
func (f *RemoteFunc[R]) prepare(args []any, buf []core.Arg) (*core.Worker, []core.Arg, core.TaskOptions, error) {
	w, err := worker()
	if err != nil {
		return nil, nil, core.TaskOptions{}, err
	}
	var opts callOptions
	cargs, err := splitArgs(w, args, f.arity, &opts, buf)
	if ae, ok := asArityError(err); ok {
		return nil, nil, core.TaskOptions{}, fmt.Errorf("task %s takes %d arguments, got %d", f.name, ae.want, ae.got)
	}
	if err != nil {
		return nil, nil, core.TaskOptions{}, fmt.Errorf("task %s: %w", f.name, err)
	}
	return w, cargs, opts.taskOptions(), nil
}

// taskOptions are a task call's options for the core worker: one CPU
// unless the call asks for CPUs (nil resources: core's shared one-CPU map).
func (o *callOptions) taskOptions() core.TaskOptions {
	res := o.resources
	if res != nil {
		if _, ok := res["CPU"]; !ok {
			res["CPU"] = 1
		}
	}
	return core.TaskOptions{Resources: res, MaxRetries: o.maxRetries, RetryExceptions: o.retryExceptions, RetryOn: o.retryOn,
		Strategy: o.strategy, Backpressure: o.backpressure, EnvVars: o.envVars}
}
