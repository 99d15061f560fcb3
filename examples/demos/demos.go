// Package demos holds goray's example programs as functions, so that each
// example command and the multi-command goray-examples binary (used by the
// RayJob samples) share one set of registered tasks and actors.
package demos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"

	"github.com/goray-dev/goray/runtime/ray"
)

// Square squares a number (Ray's front-page example).
var Square = ray.Task("demos.square", func(ctx context.Context, x int) (int, error) { return x * x, nil })

// RunSquare prints [0 1 4 9].
func RunSquare(ctx context.Context) (string, error) {
	var refs []ray.Ref[int]
	for i := 0; i < 4; i++ {
		refs = append(refs, Square.Remote(ctx, i))
	}
	out, err := ray.GetAll(ctx, refs...)
	return fmt.Sprint(out), err
}

// sampleInside counts random points of the unit square inside the quarter circle.
var sampleInside = ray.Task2("demos.pi_sample", func(ctx context.Context, n int, seed int64) (int, error) {
	r := rand.New(rand.NewPCG(uint64(seed), 7))
	in := 0
	for i := 0; i < n; i++ {
		x, y := r.Float64(), r.Float64()
		if x*x+y*y <= 1 {
			in++
		}
	}
	return in, nil
})

// RunPi estimates pi with Monte Carlo sampling over tasks.
func RunPi(ctx context.Context, tasks, perTask int) (float64, error) {
	refs := make([]ray.Ref[int], tasks)
	for i := range refs {
		refs[i] = sampleInside.Remote(ctx, perTask, int64(i))
	}
	counts, err := ray.GetAll(ctx, refs...)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	return 4 * float64(total) / float64(tasks*perTask), nil
}

// Counter is an actor's state.
type Counter struct{ N int }

// CounterActor is the actor class.
var CounterActor = ray.Actor1("demos.Counter", func(ctx context.Context, start int) (*Counter, error) {
	return &Counter{N: start}, nil
})

// Incr adds to the counter and returns the new value.
var Incr = ray.Method(CounterActor, "incr", func(c *Counter, ctx context.Context, by int) (int, error) {
	c.N += by
	return c.N, nil
})

// Value reads the counter.
var Value = ray.Method0(CounterActor, "value", func(c *Counter, ctx context.Context) (int, error) { return c.N, nil })

// RunCounter increments a named counter actor ten times and reads it back.
func RunCounter(ctx context.Context) (int, error) {
	h, err := CounterActor.Remote(ctx, 0, ray.Name("demo-counter"), ray.GetIfExists())
	if err != nil {
		return 0, err
	}
	defer func() { _ = ray.Kill(ctx, h, true) }()
	for i := 0; i < 10; i++ {
		Incr.Remote(ctx, h, 1)
	}
	same, err := ray.GetActor(ctx, CounterActor, "demo-counter", "")
	if err != nil {
		return 0, err
	}
	return ray.Get(ctx, Value.Remote(ctx, same))
}

var countWords = ray.Task("demos.map_count", func(ctx context.Context, text string) (map[string]int, error) {
	out := map[string]int{}
	for _, w := range strings.Fields(strings.ToLower(text)) {
		out[strings.Trim(w, ".,;:!?\"'")]++
	}
	return out, nil
})

var mergeCounts = ray.Task2("demos.reduce_merge", func(ctx context.Context, a, b map[string]int) (map[string]int, error) {
	for k, v := range b {
		a[k] += v
	}
	return a, nil
})

// RunWordCount maps documents to counts and reduces them pairwise, passing
// object refs (not values) between tasks. It returns "word=count" lines, top n.
func RunWordCount(ctx context.Context, docs []string, n int) ([]string, error) {
	var refs []ray.Ref[map[string]int]
	for _, d := range docs {
		docRef, err := ray.Put(ctx, d)
		if err != nil {
			return nil, err
		}
		refs = append(refs, countWords.Remote(ctx, docRef))
	}
	for len(refs) > 1 {
		var next []ray.Ref[map[string]int]
		for i := 0; i+1 < len(refs); i += 2 {
			next = append(next, mergeCounts.Remote(ctx, refs[i], refs[i+1]))
		}
		if len(refs)%2 == 1 {
			next = append(next, refs[len(refs)-1])
		}
		refs = next
	}
	counts, err := ray.Get(ctx, refs[0])
	if err != nil {
		return nil, err
	}
	words := make([]string, 0, len(counts))
	for w := range counts {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	var out []string
	for _, w := range words[:min(n, len(words))] {
		out = append(out, fmt.Sprintf("%s=%d", w, counts[w]))
	}
	return out, nil
}

// Docs is a small corpus for the word count.
var Docs = []string{
	"the quick brown fox jumps over the lazy dog",
	"the dog barks; the fox runs",
	"a quick brown dog",
	"lazy afternoons are for the dog",
	"fox and dog and fox",
}
