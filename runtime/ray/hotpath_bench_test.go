package ray

import (
	"context"
	"testing"
)

// The hot paths of `goray microbenchmark` as Go benchmarks, for their
// allocations per operation (exact, where the rates on a shared machine
// are not): Put, Get of an owned value, a task round trip, and a batch of
// tasks. Run them on two builds alternately to compare
// (go test ./runtime/ray -run '^$' -bench HotPath -benchmem).

var hotNoop = Task("hotpath.noop", func(ctx context.Context, x int) (int, error) { return x, nil })

func BenchmarkHotPathPut(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Put(ctx, i); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHotPathGet(b *testing.B) {
	ctx := context.Background()
	r, err := Put(ctx, 42)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Get(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHotPathTaskSync(b *testing.B) {
	ctx := context.Background()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Get(ctx, hotNoop.Remote(ctx, i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHotPathTaskAsync(b *testing.B) {
	ctx := context.Background()
	benchAsync(b, func(i int) Ref[int] { return hotNoop.Remote(ctx, i) })
}

// benchAsync submits b.N calls, getting them a thousand at a time (Ray's
// async cells).
func benchAsync(b *testing.B, submit func(i int) Ref[int]) {
	ctx := context.Background()
	refs := make([]Ref[int], 0, 1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		refs = append(refs, submit(i))
		if len(refs) == cap(refs) {
			if _, err := GetAll(ctx, refs...); err != nil {
				b.Fatal(err)
			}
			refs = refs[:0]
		}
	}
	if _, err := GetAll(ctx, refs...); err != nil {
		b.Fatal(err)
	}
}

type hotActor struct{}

var hotActorClass = Actor("hotpath.Actor", func(ctx context.Context) (*hotActor, error) { return &hotActor{}, nil })

var hotActorNoop = Method(hotActorClass, "noop", func(a *hotActor, ctx context.Context, x int) (int, error) { return x, nil })

func BenchmarkHotPathActorCallSync(b *testing.B) {
	ctx := context.Background()
	h, err := hotActorClass.Remote(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := Get(ctx, hotActorNoop.Remote(ctx, h, 0)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := Get(ctx, hotActorNoop.Remote(ctx, h, i)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHotPathActorCallAsync(b *testing.B) {
	ctx := context.Background()
	h, err := hotActorClass.Remote(ctx)
	if err != nil {
		b.Fatal(err)
	}
	benchAsync(b, func(i int) Ref[int] { return hotActorNoop.Remote(ctx, h, i) })
}

// BenchmarkHotPathWait1k is Ray's single_client_wait_1k_refs: a Wait on a
// thousand ready task results.
func BenchmarkHotPathWait1k(b *testing.B) {
	ctx := context.Background()
	refs := make([]Ref[int], 1000)
	for i := range refs {
		refs[i] = hotNoop.Remote(ctx, i)
	}
	if _, err := GetAll(ctx, refs...); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if ready, _, err := Wait(ctx, refs, len(refs), 0); err != nil || len(ready) != len(refs) {
			b.Fatalf("%d ready, %v", len(ready), err)
		}
	}
}
