package data

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestCountTakeSchemaShow(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items).Filter(keepEvenB)
		var want []testItem
		for _, it := range items {
			if it.B && it.ID%3 != 0 {
				want = append(want, it)
			}
		}
		n, err := ds.Count(ctx)
		if err != nil || n != int64(len(want)) {
			t.Fatalf("Count = %d, %v; want %d", n, err, len(want))
		}
		got, err := TakeAs[testItem](ctx, ds, 3)
		if err != nil {
			t.Fatal(err)
		}
		sameItems(t, got, want[:min(3, len(want))])
		s, err := ds.Schema(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := columnNames(s); !slices.Equal(got, []string{"id", "x", "s", "b"}) {
			t.Fatalf("schema columns %v", got)
		}
		var buf bytes.Buffer
		if err := ds.ShowTo(ctx, &buf, 2); err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, it := range want[:min(2, len(want))] {
			lines = append(lines, fmt.Sprintf("{id: %d, x: %v, s: %s, b: %v}\n", it.ID, it.X, it.S, it.B))
		}
		if buf.String() != strings.Join(lines, "") {
			t.Fatalf("Show printed\n%s\nwant\n%s", buf.String(), strings.Join(lines, ""))
		}
	})
}

func TestIterBatches(t *testing.T) {
	ctx := testCtx(t)
	items := randomItems(11, 1003)
	ds := randomDataset(t, ctx, 11, items)
	for _, size := range []int{1, 10, 256, 5000} {
		for _, dropLast := range []bool{false, true} {
			t.Run(fmt.Sprintf("size=%d/dropLast=%v", size, dropLast), func(t *testing.T) {
				opts := []IterOption{IterBatchSize(size), Prefetch(3)}
				if dropLast {
					opts = append(opts, DropLast())
				}
				var got []testItem
				var sizes []int
				for b, err := range ds.IterBatches(ctx, opts...) {
					if err != nil {
						t.Fatal(err)
					}
					sizes = append(sizes, int(b.NumRows()))
					for _, r := range ToRows(b) {
						it, err := fromRow[testItem](r)
						if err != nil {
							t.Fatal(err)
						}
						got = append(got, it)
					}
				}
				want := items
				if dropLast {
					want = items[:len(items)/size*size]
				}
				sameItems(t, got, want)
				for i, s := range sizes {
					lastShort := i == len(sizes)-1 && !dropLast && s < size
					if s != size && !lastShort {
						t.Fatalf("batch %d has %d rows (batch size %d): %v", i, s, size, sizes)
					}
				}
			})
		}
	}
}

func TestIterBatchesLocalShuffle(t *testing.T) {
	ctx := testCtx(t)
	items := randomItems(5, 2000)
	ds := randomDataset(t, ctx, 5, items)
	run := func(seed uint64) []int64 {
		var ids []int64
		for b, err := range ds.IterBatches(ctx, IterBatchSize(64), LocalShuffle(300, seed)) {
			if err != nil {
				t.Fatal(err)
			}
			if b.NumRows() > 64 {
				t.Fatalf("a batch of %d rows", b.NumRows())
			}
			ids = append(ids, ToColumns(b)["id"].([]int64)...)
		}
		return ids
	}
	a, b, c := run(1), run(1), run(2)
	if !slices.Equal(a, b) {
		t.Fatal("the same seed shuffled differently")
	}
	if slices.Equal(a, c) {
		t.Fatal("different seeds shuffled alike")
	}
	sorted := slices.Clone(a)
	slices.Sort(sorted)
	for i, id := range sorted {
		if id != int64(i) {
			t.Fatalf("the shuffled rows are not a permutation: position %d holds %d", i, id)
		}
	}
	inOrder := 0
	for i := 1; i < len(a); i++ {
		if a[i] == a[i-1]+1 {
			inOrder++
		}
	}
	if inOrder > len(a)/4 {
		t.Fatalf("%d of %d rows follow their predecessor: not shuffled", inOrder, len(a))
	}
}

func TestIterRowsStopsEarly(t *testing.T) {
	ctx := testCtx(t)
	n := 0
	for r, err := range Range(1_000_000, OverrideNumBlocks(100)).IterRows(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if r["id"].(int64) != int64(n) {
			t.Fatalf("row %d: %v", n, r)
		}
		if n++; n == 5 {
			break
		}
	}
}

var countCalls = MapFn("test.countCalls", func(ctx context.Context, r Row) (Row, error) {
	r["y"] = r["id"].(int64) + 1
	return r, nil
})

func TestMaterialize(t *testing.T) {
	ctx := testCtx(t)
	ds := Range(1000, OverrideNumBlocks(7)).Map(countCalls)
	m, err := ds.Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(m.Stats(), "ReadRange->Map(test.countCalls)") {
		t.Fatalf("the materialized dataset's stats do not show its run:\n%s", m.Stats())
	}
	for range 2 {
		rows, err := m.TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1000 {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			if r["y"].(int64) != int64(i)+1 {
				t.Fatalf("row %d: %v", i, r)
			}
		}
	}
	// Transforms of a materialized dataset start from its blocks.
	n, err := m.Filter(keepOdd).Count(ctx)
	if err != nil || n != 500 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

var keepOdd = FilterFn("test.keepOdd", func(ctx context.Context, r Row) (bool, error) { return r["id"].(int64)%2 == 1, nil })

func TestStats(t *testing.T) {
	ctx := testCtx(t)
	ds := Range(5000, OverrideNumBlocks(5)).Map(countCalls).MapBatches(poolTag, ActorPoolSize(1, 1), NumCPUs(0.5))
	if ds.Stats() != "" {
		t.Fatal("stats before a run")
	}
	if _, err := ds.Count(ctx); err != nil {
		t.Fatal(err)
	}
	s := ds.Stats()
	for _, want := range []string{
		"Operator 1 ReadRange->Map(test.countCalls): 5 tasks executed, 5 blocks produced",
		"Operator 2 MapBatches(test.poolTag): 5 tasks executed, 5 blocks produced",
		"* Remote wall time:", "* Remote cpu time:", "* Output num rows per block: 1000 min, 1000 max, 1000 mean, 5000 total",
		"* Output size bytes per block:", "Total execution time",
	} {
		if !strings.Contains(s, want) {
			t.Fatalf("stats lack %q:\n%s", want, s)
		}
	}
}

var poolTag = MapBatchesClass("test.poolTag", func(ctx context.Context, _ struct{}) (*counter, error) {
	return &counter{id: 1}, nil
}, func(c *counter, ctx context.Context, rows []Row) ([]Row, error) {
	for _, r := range rows {
		r["tag"] = c.id
	}
	return rows, nil
})
