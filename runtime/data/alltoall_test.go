package data

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"
)

func TestRepartition(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		for _, n := range []int{1, 3, 10} {
			ds := randomDataset(t, ctx, seed, items).Repartition(n)
			var sizes []int64
			var got []testItem
			for b, err := range ds.IterBatches(ctx, IterBatchSize(0)) {
				if err != nil {
					t.Fatal(err)
				}
				sizes = append(sizes, b.NumRows())
				for _, r := range ToRows(b) {
					it, _ := fromRow[testItem](r)
					got = append(got, it)
				}
			}
			sameItems(t, got, items)
			if len(items) == 0 {
				continue
			}
			if len(sizes) != n {
				t.Fatalf("Repartition(%d) made %d blocks", n, len(sizes))
			}
			if slices.Max(sizes)-slices.Min(sizes) > 1 {
				t.Fatalf("block sizes %v", sizes)
			}
		}
	})
}

func TestRandomShuffle(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items)
		a := takeItems(t, ctx, ds.RandomShuffle(1))
		b := takeItems(t, ctx, ds.RandomShuffle(1))
		c := takeItems(t, ctx, ds.RandomShuffle(2))
		sameItems(t, a, b)
		byID := func(x, y testItem) int { return cmp.Compare(x.ID, y.ID) }
		for _, s := range [][]testItem{a, c} {
			sorted := slices.Clone(s)
			slices.SortFunc(sorted, byID)
			sameItems(t, sorted, items)
		}
		if len(items) >= 37 && slices.Equal(a, c) {
			t.Fatal("two seeds gave one order")
		}
		if len(items) >= 37 && slices.Equal(a, items) {
			t.Fatal("not shuffled")
		}
	})
}

func TestSort(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items)
		for _, key := range []string{"s", "x", "b"} {
			for _, desc := range []bool{false, true} {
				got := takeItems(t, ctx, ds.Sort(key, desc))
				want := slices.Clone(items)
				slices.SortStableFunc(want, func(a, b testItem) int {
					var c int
					switch key {
					case "s":
						c = cmp.Compare(a.S, b.S)
					case "x":
						c = cmp.Compare(a.X, b.X)
					case "b":
						c = compareValues(a.B, b.B)
					}
					if desc {
						c = -c
					}
					return c
				})
				sameItems(t, got, want)
			}
		}
	})
	_, err := Range(10).Sort("nope", false).TakeAll(ctx)
	wantErr(t, err, "Sort(nope)", `no column "nope"`)
}

func TestGroupByAggregate(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items).AddColumn("k", idMod)
		rows, err := ds.GroupBy("s").Aggregate(Count(), Sum("x"), Sum("k"), Mean("x"), Min("x"), Max("k"), Std("x")).TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type acc struct {
			xs []float64
			ks []int64
		}
		groups := map[string]*acc{}
		for _, it := range items {
			a := groups[it.S]
			if a == nil {
				a = &acc{}
				groups[it.S] = a
			}
			a.xs = append(a.xs, it.X)
			a.ks = append(a.ks, it.ID%5)
		}
		keys := make([]string, 0, len(groups))
		for k := range groups {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(rows) != len(keys) {
			t.Fatalf("%d groups, want %d", len(rows), len(keys))
		}
		for i, k := range keys {
			a, r := groups[k], rows[i]
			var sum, ss float64
			var ksum int64
			for _, x := range a.xs {
				sum += x
			}
			for _, kv := range a.ks {
				ksum += kv
			}
			mean := sum / float64(len(a.xs))
			for _, x := range a.xs {
				ss += (x - mean) * (x - mean)
			}
			std := 0.0
			if len(a.xs) > 1 {
				std = math.Sqrt(ss / float64(len(a.xs)-1))
			}
			want := Row{"s": k, "count()": int64(len(a.xs)), "sum(x)": sum, "sum(k)": ksum, "mean(x)": mean,
				"min(x)": slices.Min(a.xs), "max(k)": slices.Max(a.ks), "std(x)": std}
			if !closeRows(r, want) {
				t.Fatalf("group %d: %v\nwant %v", i, r, want)
			}
		}
	})
}

// closeRows compares rows, floats within a relative 1e-9.
func closeRows(a, b Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range b {
		f, ok := v.(float64)
		g, ok2 := a[k].(float64)
		if ok && ok2 {
			if math.Abs(f-g) > 1e-9*math.Max(1, math.Abs(f)) {
				return false
			}
			continue
		}
		if !reflect.DeepEqual(a[k], v) {
			return false
		}
	}
	return true
}

var idMod = ColumnFn("test.idMod", func(ctx context.Context, cols Columns) (any, error) {
	ids := cols["id"].([]int64)
	out := make([]int64, len(ids))
	for i, id := range ids {
		out[i] = id % 5
	}
	return out, nil
})

// groupSummary turns a group into one row: its key, size and first id.
var groupSummary = MapBatchesFn("test.groupSummary", func(ctx context.Context, rows []Row) ([]Row, error) {
	return []Row{{"s": rows[0]["s"], "n": int64(len(rows)), "first": rows[0]["id"]}}, nil
})

func TestMapGroupsAndUnique(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items)
		rows, err := ds.GroupBy("s").MapGroups(groupSummary).TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		type g struct {
			n, first int64
		}
		want := map[string]*g{}
		for _, it := range items {
			if want[it.S] == nil {
				want[it.S] = &g{first: it.ID}
			}
			want[it.S].n++
		}
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(rows) != len(keys) {
			t.Fatalf("%d groups, want %d", len(rows), len(keys))
		}
		for i, k := range keys {
			w := Row{"s": k, "n": want[k].n, "first": want[k].first}
			if !reflect.DeepEqual(rows[i], w) {
				t.Fatalf("group %d: %v, want %v", i, rows[i], w)
			}
		}
		u, err := ds.Unique(ctx, "s")
		if err != nil {
			t.Fatal(err)
		}
		var us []string
		for _, v := range u {
			us = append(us, v.(string))
		}
		if !slices.Equal(us, keys) && (len(us) != 0 || len(keys) != 0) {
			t.Fatalf("Unique = %v, want %v", us, keys)
		}
	})
}

func TestUnion(t *testing.T) {
	ctx := testCtx(t)
	a, b := randomItems(1, 100), randomItems(2, 37)
	da, db := randomDataset(t, ctx, 1, a), randomDataset(t, ctx, 2, b)
	got := takeItems(t, ctx, da.Map(mapStruct).Union(db, da).Limit(200))
	var want []testItem
	for _, it := range a {
		want = append(want, mapItem(it))
	}
	want = append(append(want, b...), a[:63]...)
	sameItems(t, got, want)
	n, err := Range(10).Union(Range(5), Range(0)).Count(ctx)
	if err != nil || n != 15 {
		t.Fatalf("Count = %d, %v", n, err)
	}
}

func TestShuffleBigger(t *testing.T) {
	ctx := testCtx(t)
	ds := Range(20_000, OverrideNumBlocks(20)).RandomShuffle(3).Sort("id", true)
	var prev int64 = math.MaxInt64
	n := 0
	for r, err := range ds.IterRows(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		id := r["id"].(int64)
		if id >= prev {
			t.Fatalf("row %d: %d after %d", n, id, prev)
		}
		prev = id
		n++
	}
	if n != 20_000 {
		t.Fatal(fmt.Sprint(n, " rows"))
	}
}

func TestZip(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		left := randomDataset(t, ctx, seed, items).SelectColumns("id", "x")
		right := randomDataset(t, ctx, seed+3, items).Map(mapStruct).SelectColumns("s", "x")
		rows, err := left.Zip(right).TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(items) {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			m := mapItem(items[i])
			want := Row{"id": items[i].ID, "x": items[i].X, "s": m.S, "x_1": m.X}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("row %d: %v, want %v", i, r, want)
			}
		}
	})
	_, err := Range(10, OverrideNumBlocks(3)).Zip(Range(9, OverrideNumBlocks(2))).TakeAll(ctx)
	wantErr(t, err, "Zip", "differ in length")
	_, err = Range(9, OverrideNumBlocks(3)).Zip(Range(10, OverrideNumBlocks(4))).TakeAll(ctx)
	wantErr(t, err, "Zip", "differ in length")
}

func TestGlobalAggregates(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items)
		got, err := ds.Aggregate(ctx, Count(), Sum("id"), Sum("x"), Mean("x"), Min("s"), Max("x"), Std("x"))
		if err != nil {
			t.Fatal(err)
		}
		want := Row{"count()": int64(len(items)), "sum(id)": nil, "sum(x)": nil, "mean(x)": nil, "min(s)": nil, "max(x)": nil, "std(x)": nil}
		if len(items) > 0 {
			var ids int64
			var sum, ss float64
			mn, mx := items[0].S, items[0].X
			for _, it := range items {
				ids += it.ID
				sum += it.X
				mn, mx = min(mn, it.S), max(mx, it.X)
			}
			mean := sum / float64(len(items))
			for _, it := range items {
				ss += (it.X - mean) * (it.X - mean)
			}
			std := 0.0
			if len(items) > 1 {
				std = math.Sqrt(ss / float64(len(items)-1))
			}
			want = Row{"count()": int64(len(items)), "sum(id)": ids, "sum(x)": sum, "mean(x)": mean, "min(s)": mn, "max(x)": mx, "std(x)": std}
		}
		if !closeRows(got, want) {
			t.Fatalf("aggregates %v\nwant %v", got, want)
		}
		if len(items) > 0 {
			s, err := ds.Sum(ctx, "id")
			if err != nil || s != want["sum(id)"] {
				t.Fatalf("Sum = %v, %v", s, err)
			}
		}
	})
}

// Past shuffleSmall input blocks a map task takes a run of blocks and the
// output has fewer blocks; the rows are sorted, shuffled and repartitioned
// all the same.
func TestShuffleOfManyBlocks(t *testing.T) {
	ctx := testCtx(t)
	const n = 20_000
	ds := Range(n, OverrideNumBlocks(150)).AddColumn("k", idMod)
	sorted, err := ds.Sort("k", true).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(sorted) != n {
		t.Fatalf("sorted %d rows, want %d", len(sorted), n)
	}
	for i := 1; i < n; i++ {
		a, b := sorted[i-1], sorted[i]
		if a["k"].(int64) < b["k"].(int64) || a["k"] == b["k"] && a["id"].(int64) > b["id"].(int64) {
			t.Fatalf("rows %d and %d out of order (descending by k, stable): %v %v", i-1, i, a, b)
		}
	}
	shuffled, err := ds.RandomShuffle(3).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, n)
	inOrder := true
	for i, r := range shuffled {
		id := r["id"].(int64)
		if seen[id] {
			t.Fatalf("row %d twice", id)
		}
		seen[id] = true
		inOrder = inOrder && id == int64(i)
	}
	if len(shuffled) != n || inOrder {
		t.Fatalf("shuffle gave %d rows, in order %v", len(shuffled), inOrder)
	}
	rows, err := ds.Repartition(7).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if r["id"].(int64) != int64(i) {
			t.Fatalf("repartition moved row %d to %d", r["id"], i)
		}
	}
}

func TestShufflePlanning(t *testing.T) {
	for _, c := range []struct {
		n     int
		bytes int64
		tasks int
		want  int
	}{
		{0, 0, 4, 1}, {1, 10, 4, 1}, {64, 1 << 30, 4, 64}, // small: a part per input block
		{65, 1 << 20, 4, 64},     // many small blocks: at least shuffleSmall
		{1526, 10 << 30, 4, 80},  // 10 GB: 128 MB blocks
		{100, 100 << 30, 4, 100}, // never more than the inputs
		{200, 1 << 20, 128, 128}, // at least the operator's tasks
	} {
		if got := shuffleParts(c.n, c.bytes, c.tasks); got != c.want {
			t.Errorf("shuffleParts(%d, %d, %d) = %d, want %d", c.n, c.bytes, c.tasks, got, c.want)
		}
	}
	for _, c := range []struct {
		bytes int64
		parts int
		want  int
	}{
		{0, 1, 1}, {10 << 20, 64, 1}, {10e9, 80, 3}, // 10 GB: 125 MB a task, 3 blocks of 42 MB
		{48 << 20, 1, 1}, {48<<20 + 1, 1, 2},
	} {
		if got := shuffleOutputs(c.bytes, c.parts); got != c.want {
			t.Errorf("shuffleOutputs(%d, %d) = %d, want %d", c.bytes, c.parts, got, c.want)
		}
	}
	blocks := func(n int, size int64) []bundle {
		out := make([]bundle, n)
		for i := range out {
			out[i].meta.Bytes = size
		}
		return out
	}
	check := func(inputs []bundle, tasks, want int) {
		t.Helper()
		g := mapGroupsOf(inputs, tasks)
		if len(g) != want {
			t.Fatalf("%d blocks, %d tasks: %d groups %v, want %d", len(inputs), tasks, len(g), g, want)
		}
		next := 0
		for _, r := range g {
			if r[0] != next || r[1] <= r[0] {
				t.Fatalf("groups %v do not cover the inputs in order", g)
			}
			next = r[1]
		}
		if next != len(inputs) {
			t.Fatalf("groups %v end at %d of %d", g, next, len(inputs))
		}
	}
	check(blocks(10, 100<<20), 4, 10)                           // small: a block each
	check(blocks(1526, 6_553_600), 4, 139)                      // 10 GB: runs of 64 MiB or just over
	check(blocks(100, 1<<20), 4, 4)                             // 100 MB: one run per task
	check(append(blocks(99, 1<<20), blocks(1, 1<<30)...), 4, 2) // runs of 64 MiB, the large block in the last
}
