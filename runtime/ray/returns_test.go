package ray

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
)

var minMax = Task("sdk.minmax", func(ctx context.Context, xs []int) ([]int, error) {
	if len(xs) == 0 {
		return nil, errors.New("no numbers")
	}
	return []int{slices.Min(xs), slices.Max(xs)}, nil
})

// blobs returns n values of size bytes each (large ones go to the store).
var blobs = Task2("sdk.blobs", func(ctx context.Context, n, size int) ([][]byte, error) {
	out := make([][]byte, n)
	for i := range out {
		out[i] = bytes.Repeat([]byte{byte(i)}, size)
	}
	return out, nil
})

type counter struct{ n int }

var counterClass = Actor("sdk.Counter", func(ctx context.Context) (*counter, error) { return &counter{}, nil })

var splitCount = Method(counterClass, "split", func(c *counter, ctx context.Context, k int) ([]int, error) {
	c.n += k
	return []int{c.n, -c.n}, nil
})

func TestRemoteN(t *testing.T) {
	ctx := context.Background()
	refs, err := RemoteN(ctx, minMax, 2, []int{5, 2, 9})
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 2 || refs[0].ID() == refs[1].ID() {
		t.Fatalf("refs %v: want two distinct objects", refs)
	}
	lo, err := Get(ctx, refs[0])
	if err != nil {
		t.Fatal(err)
	}
	hi, err := Get(ctx, refs[1])
	if err != nil || lo != 2 || hi != 9 {
		t.Fatalf("min %d max %d (%v), want 2 and 9", lo, hi, err)
	}
	// The same task called with Remote returns the slice as one object.
	whole, err := Get(ctx, minMax.Remote(ctx, []int{5, 2, 9}))
	if err != nil || !slices.Equal(whole, []int{2, 9}) {
		t.Fatalf("whole %v, %v", whole, err)
	}
	// num_returns=1: the one element, not the slice.
	one, err := RemoteN(ctx, firstOf, 1, []int{7, 8})
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Get(ctx, one[0]); err != nil || v != 7 {
		t.Fatalf("num_returns=1: %v, %v; want 7", v, err)
	}
}

var firstOf = Task("sdk.firstOf", func(ctx context.Context, xs []int) ([]int, error) { return xs[:1], nil })

// Each return is its own object: a large one lives in the store, a small
// one inline, and releasing one leaves the others readable.
func TestRemoteNLargeReturns(t *testing.T) {
	ctx := context.Background()
	refs, err := RemoteN(ctx, blobs, 3, 3, 300<<10)
	if err != nil {
		t.Fatal(err)
	}
	refs[1].Release()
	for _, i := range []int{0, 2} {
		b, err := Get(ctx, refs[i])
		if err != nil || len(b) != 300<<10 || b[0] != byte(i) {
			t.Fatalf("return %d: len %d, %v", i, len(b), err)
		}
	}
}

func TestRemoteNErrors(t *testing.T) {
	ctx := context.Background()
	// The task's error reaches every return.
	refs, err := RemoteN(ctx, minMax, 2, []int{})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		var te *TaskError
		if _, err := Get(ctx, r); !errors.As(err, &te) || te.Message != "no numbers" {
			t.Fatalf("return %d: %v, want the task's error", i, err)
		}
	}
	// A result of another length fails every return.
	refs, err = RemoteN(ctx, minMax, 3, []int{1})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		var te *TaskError
		if _, err := Get(ctx, r); !errors.As(err, &te) || te.Type != "NumReturnsMismatch" {
			t.Fatalf("return %d: %v, want NumReturnsMismatch", i, err)
		}
	}
	if _, err := RemoteN(ctx, minMax, 0, []int{1}); err == nil {
		t.Fatal("num_returns 0 accepted")
	}
}

func TestCallN(t *testing.T) {
	ctx := context.Background()
	h, err := counterClass.Remote(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = Kill(ctx, h, true) }()
	refs, err := CallN(ctx, splitCount, h, 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	a, err1 := Get(ctx, refs[0])
	b, err2 := Get(ctx, refs[1])
	if a != 4 || b != -4 || err1 != nil || err2 != nil {
		t.Fatalf("returns %d %d (%v %v), want 4 -4", a, b, err1, err2)
	}
	// num_returns=1 is the method's one element; a plain call, the slice.
	one, err := CallN(ctx, firstOfCall, h, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Get(ctx, one[0]); err != nil || v != 5 {
		t.Fatalf("num_returns=1: %v, %v; want 5", v, err)
	}
	if v, err := Get(ctx, firstOfCall.Remote(ctx, h, 6)); err != nil || !slices.Equal(v, []int{6}) {
		t.Fatalf("plain call: %v, %v; want [6]", v, err)
	}
}

var firstOfCall = Method(counterClass, "firstOf", func(c *counter, ctx context.Context, k int) ([]int, error) { return []int{k}, nil })

// A return passed to another task is an ordinary ref argument.
func TestRemoteNReturnAsArgument(t *testing.T) {
	ctx := context.Background()
	refs, err := RemoteN(ctx, minMax, 2, []int{7, 3})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Get(ctx, double.Remote(ctx, refs[1]))
	if err != nil || got != 14 {
		t.Fatalf("double(max) = %d, %v", got, err)
	}
}

var double = Task("sdk.double", func(ctx context.Context, x int) (int, error) { return 2 * x, nil })

// strs returns strings of the sizes asked: small ones inline, large ones
// encoded straight into store memory (core.Return's Fill).
var strs = Task("sdk.strs", func(ctx context.Context, sizes []int) ([]string, error) {
	out := make([]string, len(sizes))
	for i, n := range sizes {
		out[i] = string(bytes.Repeat([]byte{'a' + byte(i)}, n))
	}
	return out, nil
})

func TestRemoteNMixedReturns(t *testing.T) {
	ctx := context.Background()
	sizes := []int{10, 200 << 10, 0, 100 << 10, 100<<10 + 1}
	refs, err := RemoteN(ctx, strs, len(sizes), sizes)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range refs {
		s, err := Get(ctx, r)
		if err != nil || s != string(bytes.Repeat([]byte{'a' + byte(i)}, sizes[i])) {
			t.Fatalf("return %d: len %d, %v", i, len(s), err)
		}
	}
}
