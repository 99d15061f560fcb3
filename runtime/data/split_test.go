package data

import (
	"math"
	"slices"
	"sync"
	"testing"
)

func TestRandomSample(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items)
		for _, f := range []float64{0, 0.3, 1} {
			a := takeItems(t, ctx, ds.RandomSample(f, 9))
			b := takeItems(t, ctx, ds.RandomSample(f, 9))
			sameItems(t, a, b)
			// A subsequence of the input, in order.
			j := 0
			for _, it := range a {
				for j < len(items) && items[j] != it {
					j++
				}
				if j == len(items) {
					t.Fatalf("sampled row %+v is not in order in the input", it)
				}
			}
			switch {
			case f == 0 && len(a) != 0, f == 1 && len(a) != len(items):
				t.Fatalf("fraction %v kept %d of %d", f, len(a), len(items))
			case f == 0.3 && len(items) == 1000 && math.Abs(float64(len(a))-300) > 60:
				t.Fatalf("fraction 0.3 kept %d of 1000", len(a))
			}
		}
	})
	if _, err := Range(3).RandomSample(1.5, 0).Count(ctx); err == nil {
		t.Fatal("a fraction of 1.5")
	}
}

func TestSplit(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items).Map(mapStruct)
		for _, n := range []int{1, 3, 4} {
			parts, err := ds.Split(ctx, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(parts) != n {
				t.Fatalf("%d parts", len(parts))
			}
			var all []testItem
			for j, p := range parts {
				got := takeItems(t, ctx, p)
				want := len(items)*(j+1)/n - len(items)*j/n
				if len(got) != want {
					t.Fatalf("split %d of %d has %d rows, want %d", j, n, len(got), want)
				}
				all = append(all, got...)
			}
			want := make([]testItem, len(items))
			for i, it := range items {
				want[i] = mapItem(it)
			}
			sameItems(t, all, want)
		}
	})
}

func TestStreamingSplit(t *testing.T) {
	ctx := testCtx(t)
	its := Range(10_000, OverrideNumBlocks(40)).Map(mapRow).StreamingSplit(ctx, 3)
	var mu sync.Mutex
	var ids []int64
	var wg sync.WaitGroup
	counts := make([]int, len(its))
	for i, it := range its {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b, err := range it.IterBlocks() {
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				ids = append(ids, ToColumns(b)["id"].([]int64)...)
				counts[i]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	slices.Sort(ids)
	if len(ids) != 10_000 {
		t.Fatalf("%d rows", len(ids))
	}
	for i, id := range ids {
		if id != int64(i) {
			t.Fatalf("row %d is %d", i, id)
		}
	}
	total := 0
	for _, c := range counts {
		total += c
	}
	if total != 40 {
		t.Fatalf("blocks per consumer %v", counts)
	}
}
