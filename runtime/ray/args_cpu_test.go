package ray

import (
	"cmp"
	"context"
	"slices"
	"testing"
	"time"
)

// spanOf holds its (large) argument for a while and returns when it ran.
var spanOf = Task("sdk.spanOf", func(ctx context.Context, big []byte) ([]int64, error) {
	start := time.Now()
	time.Sleep(300 * time.Millisecond) // a sleep, not a wait: the task keeps its CPU
	return []int64{start.UnixNano(), time.Now().UnixNano(), int64(len(big))}, nil
})

// A task's fetch of its own ready argument does not lend its CPU to other
// work (Ray's raylet pulls arguments before it runs a task): with a CPU
// each, no more tasks run at once than the cluster's 2 CPUs, however long
// their arguments take to read. (Lending it started more tasks than CPUs,
// each in a worker process of its own.)
func TestFetchingArgumentsKeepsTheCPUs(t *testing.T) {
	ctx := context.Background()
	big, err := Put(ctx, make([]byte, 48<<20)) // in the store: a fetch of tens of milliseconds
	if err != nil {
		t.Fatal(err)
	}
	defer big.Release()
	var refs []Ref[[]int64]
	for range 6 {
		refs = append(refs, spanOf.Remote(ctx, big))
	}
	type event struct {
		at    int64
		delta int
	}
	var events []event
	for _, r := range refs {
		s, err := Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if s[2] != 48<<20 {
			t.Fatalf("argument of %d bytes", s[2])
		}
		events = append(events, event{s[0], 1}, event{s[1], -1})
	}
	slices.SortFunc(events, func(a, b event) int {
		if a.at != b.at {
			return cmp.Compare(a.at, b.at)
		}
		return a.delta - b.delta // an end before a start at the same time
	})
	most, now := 0, 0
	for _, e := range events {
		now += e.delta
		most = max(most, now)
	}
	if most > 2 {
		t.Fatalf("%d tasks of a CPU each ran at once on 2 CPUs", most)
	}
}
