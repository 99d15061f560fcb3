package ray

import (
	"context"
	"fmt"
	"reflect"

	"github.com/goray-dev/goray/runtime/codec"
	"github.com/goray-dev/goray/runtime/core"
)

// Multiple returns (Ray's num_returns): a task or method whose result is a
// slice can be called with RemoteN or CallN and n; each of the n elements
// it returns is then its own object, with its own Ref, reference count and
// lineage (rebuilt by re-running the task if lost), and an error reaches
// every one of them. Called with Remote, the same function returns the
// whole slice as one object.

// registerTask registers a task's encoded form and, when its result is a
// slice, its num_returns form too.
func registerTask[R any](name string, call func(ctx context.Context, args [][]byte) (R, error)) {
	core.RegisterFunc(name, func(ctx context.Context, args [][]byte) ([]byte, error) {
		r, err := call(ctx, args)
		return encodeResult(ctx, r, err)
	})
	if isSlice[R]() {
		core.RegisterMultiFunc(name, func(ctx context.Context, args [][]byte) ([]core.Return, error) {
			r, err := call(ctx, args)
			if err != nil {
				return nil, err
			}
			return encodeElems(r)
		})
	}
}

// registerMethod is registerTask for an actor method.
func registerMethod[R any](name string, call func(ctx context.Context, inst any, args [][]byte) (R, error)) {
	core.RegisterMethod(name, func(ctx context.Context, inst any, args [][]byte) ([]byte, error) {
		r, err := call(ctx, inst, args)
		return encodeResult(ctx, r, err)
	})
	if isSlice[R]() {
		core.RegisterMultiMethod(name, func(ctx context.Context, inst any, args [][]byte) ([]core.Return, error) {
			r, err := call(ctx, inst, args)
			if err != nil {
				return nil, err
			}
			return encodeElems(r)
		})
	}
}

func isSlice[R any]() bool { return reflect.TypeFor[R]().Kind() == reflect.Slice }

// encodeElems encodes each element of the slice r on its own.
func encodeElems[R any](r R) ([]core.Return, error) {
	v := reflect.ValueOf(r)
	out := make([]core.Return, v.Len())
	for i := range out {
		e := v.Index(i).Interface()
		if n, ok := codec.EncodedSize(e); ok && n > core.InlineThreshold {
			// A large string or byte slice is encoded straight into the
			// memory it is stored from, as Put does: no copy of its own.
			out[i] = core.Return{Size: int64(n), Fill: func(dst []byte) { codec.EncodeTo(dst, e) }}
			continue
		}
		b, err := encodeNoRefs(e, "the element")
		if err != nil {
			return nil, fmt.Errorf("return %d: %w", i, err)
		}
		out[i] = core.Return{Data: b}
	}
	return out, nil
}

// RemoteN submits f with n returns, as Ray's f.options(num_returns=n).remote():
// f returns a slice of n elements and each is its own object. A result of
// another length fails every return.
//
//	var MinMax = ray.Task("minmax", func(ctx context.Context, xs []int) ([]int, error) {
//		return []int{slices.Min(xs), slices.Max(xs)}, nil
//	})
//	refs, err := ray.RemoteN(ctx, MinMax, 2, []int{3, 1, 2}) // refs[0] → 1, refs[1] → 3
func RemoteN[E any](ctx context.Context, f *RemoteFunc[[]E], n int, args ...any) ([]Ref[E], error) {
	w, cargs, opts, err := f.prepare(args, nil)
	if err != nil {
		return nil, err
	}
	opts.Parent = core.ParentTask(ctx)
	hs, err := w.SubmitTaskN(f.name, cargs, opts, n)
	if err != nil {
		return nil, fmt.Errorf("task %s: %w", f.name, err)
	}
	return refsOf[E](hs), nil
}

// CallN calls actor method m with n returns (num_returns=n): m returns a
// slice of n elements and each is its own object.
func CallN[S, E any](ctx context.Context, m *MethodFunc[S, []E], h ActorHandle[S], n int, args ...any) ([]Ref[E], error) {
	w, cargs, opts, retries, err := prepareCall(m.name, m.arity, h.maxTaskRetries, h.h, args, nil)
	if err != nil {
		return nil, err
	}
	hs, err := w.SubmitActorTaskN(h.ID, m.name, cargs, retries, opts.rebuilds(retries), n, opts.actorCall(ctx))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.name, err)
	}
	return refsOf[E](hs), nil
}

func refsOf[E any](hs []*core.Handle) []Ref[E] {
	out := make([]Ref[E], len(hs))
	for i, h := range hs {
		out[i] = Ref[E]{h: h}
	}
	return out
}
