package bench

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// The scale envelope (issue 20, part 3), after Ray's scalability envelope
// and its release tests: each step prints what it measured in the same
// form as the microbenchmarks, plus the figures the envelope states.

// EnvelopeStep is one line of the scale envelope.
type EnvelopeStep struct {
	Name string
	run  func(ctx context.Context, out io.Writer, scale float64) error
}

// EnvelopeSteps are the envelope's steps, in order.
var EnvelopeSteps = []EnvelopeStep{
	{"many_tasks_queued", manyTasksQueued},
	{"live_objects_one_owner", liveObjects},
	{"get_10k_refs", get10kRefs},
	{"lightweight_actors_10k", liteActors10k},
}

// Envelope runs the steps whose names match (all when match is nil).
// scale multiplies the counts (1: the envelope's own).
func Envelope(ctx context.Context, out io.Writer, scale float64, match func(string) bool) error {
	for _, s := range EnvelopeSteps {
		if match != nil && !match(s.Name) {
			continue
		}
		if err := s.run(ctx, out, scale); err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
	}
	return nil
}

// scaled is n × scale, at least 1.
func scaled(n int, scale float64) int { return max(1, int(float64(n)*scale)) }

// heapInUse is the driver's live heap once collections stop finding more
// to free: the handles a collection finds unreachable free their table
// entries in cleanups that run after it, which the next one collects.
func heapInUse() uint64 {
	var m runtime.MemStats
	last := uint64(0)
	for deadline := time.Now().Add(5 * time.Second); ; {
		runtime.GC()
		time.Sleep(100 * time.Millisecond)
		runtime.ReadMemStats(&m)
		if last != 0 && (m.HeapAlloc >= last || last-m.HeapAlloc < last/100) || time.Now().After(deadline) {
			return m.HeapAlloc
		}
		last = m.HeapAlloc
	}
}

// peakRSS is this process's peak resident set (VmHWM), 0 if unknown.
func peakRSS() uint64 { return readStatusKB("VmHWM") }

// manyTasksQueued submits 1,000,000 no-op tasks without waiting (they
// queue in the driver and on the node), then gets every result: the time
// from the first submission to the last result, the submission rate, and
// the driver's peak memory (Ray's many_tasks release test queues its
// tasks the same way).
func manyTasksQueued(ctx context.Context, out io.Writer, scale float64) error {
	n := scaled(1_000_000, scale)
	rss0 := peakRSS()
	t0 := time.Now()
	refs := make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = noop.Remote(ctx, i)
		if i%100_000 == 99_999 {
			fmt.Fprintf(out, "  submitted %d of %d (%.1f s)\n", i+1, n, time.Since(t0).Seconds())
		}
	}
	submitted := time.Since(t0)
	heap := heapInUse()
	for i := 0; i < n; i += 10_000 {
		vs, err := ray.GetAll(ctx, refs[i:min(n, i+10_000)]...)
		if err != nil {
			return err
		}
		for j, v := range vs {
			if v != i+j {
				return fmt.Errorf("task %d returned %d", i+j, v)
			}
		}
		if (i/10_000)%20 == 19 {
			fmt.Fprintf(out, "  done %d of %d (%.1f s)\n", i+10_000, n, time.Since(t0).Seconds())
		}
	}
	total := time.Since(t0)
	fmt.Fprintf(out, "%-36s %14.2f s  (%d tasks; submitted in %.2f s, %.0f tasks/s overall; driver heap with all queued %.0f MB, peak RSS %.0f MB, %.0f MB before)\n",
		"many_tasks_queued", total.Seconds(), n, submitted.Seconds(), float64(n)/total.Seconds(), float64(heap)/1e6, float64(peakRSS())/1e6, float64(rss0)/1e6)
	clear(refs)
	return nil
}

// liveObjects puts 1,000,000 small objects and keeps every ref: memory per
// live object in the owner (the driver's heap, and the node's store) and
// the latency of a Get among them.
func liveObjects(ctx context.Context, out io.Writer, scale float64) error {
	n := scaled(1_000_000, scale)
	h0 := heapInUse()
	refs := make([]ray.Ref[int], n)
	t0 := time.Now()
	for i := range refs {
		var err error
		if refs[i], err = ray.Put(ctx, i); err != nil {
			return err
		}
	}
	put := time.Since(t0)
	h1 := heapInUse()
	// Get latency: random refs among the million, one at a time.
	lat := make([]time.Duration, 20_000)
	rng := rand.New(rand.NewPCG(1, 2))
	for k := range lat {
		i := rng.IntN(n)
		s := time.Now()
		v, err := ray.Get(ctx, refs[i])
		lat[k] = time.Since(s)
		if err != nil {
			return err
		}
		if v != i {
			return fmt.Errorf("object %d holds %d", i, v)
		}
	}
	slices.Sort(lat)
	per := float64(h1-min(h0, h1)) / float64(n)
	fmt.Fprintf(out, "%-36s %14.0f B/object  (%d live objects owned by the driver, put in %.2f s; Get p50 %.1f µs, p99 %.1f µs)\n",
		"live_objects_one_owner", per, n, put.Seconds(), us(lat[len(lat)/2]), us(lat[len(lat)*99/100]))
	for i := range refs {
		refs[i].Release()
	}
	return nil
}

// get10kRefs gets 10,000 task results in one call: the time of the call
// once all are ready, and from submission.
func get10kRefs(ctx context.Context, out io.Writer, scale float64) error {
	n := scaled(10_000, scale)
	var best, firstAll time.Duration
	for round := range 5 {
		refs := make([]ray.Ref[int], n)
		t0 := time.Now()
		for i := range refs {
			refs[i] = noop.Remote(ctx, i)
		}
		if round == 0 {
			if _, err := ray.GetAll(ctx, refs...); err != nil {
				return err
			}
			firstAll = time.Since(t0)
		}
		if _, _, err := ray.Wait(ctx, refs, n, 0); err != nil {
			return err
		}
		s := time.Now()
		vs, err := ray.GetAll(ctx, refs...)
		d := time.Since(s)
		if err != nil {
			return err
		}
		if len(vs) != n {
			return fmt.Errorf("%d of %d values", len(vs), n)
		}
		if best == 0 || d < best {
			best = d
		}
	}
	fmt.Fprintf(out, "%-36s %14.2f ms  (Get of %d ready refs at once, best of 5; submit + run + Get the first time %.0f ms)\n",
		"get_10k_refs", float64(best.Microseconds())/1000, n, float64(firstAll.Microseconds())/1000)
	return nil
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
