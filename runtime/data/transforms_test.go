package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

// testItem is the random test data's row type.
type testItem struct {
	ID int64   `data:"id"`
	X  float64 `data:"x"`
	S  string  `data:"s"`
	B  bool    `data:"b"`
}

// randomItems makes n rows from seed.
func randomItems(seed uint64, n int) []testItem {
	rng := rand.New(rand.NewPCG(seed, 7))
	out := make([]testItem, n)
	for i := range out {
		out[i] = testItem{ID: int64(i), X: rng.NormFloat64() * 100, S: fmt.Sprintf("s%d", rng.IntN(50)), B: rng.IntN(2) == 0}
	}
	return out
}

// randomDataset puts items as a dataset of a random number of blocks.
func randomDataset(t *testing.T, ctx context.Context, seed uint64, items []testItem) *Dataset {
	t.Helper()
	blocks := 1 + int(seed%7)
	ds, err := FromItems(ctx, items, OverrideNumBlocks(blocks))
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

// property runs check on random data sets of several sizes and seeds.
func property(t *testing.T, check func(t *testing.T, seed uint64, items []testItem)) {
	for _, n := range []int{0, 1, 37, 1000} {
		for seed := range uint64(2) {
			t.Run(fmt.Sprintf("n=%d/seed=%d", n, seed), func(t *testing.T) {
				check(t, seed+uint64(n), randomItems(seed+uint64(n), n))
			})
		}
	}
}

func takeItems(t *testing.T, ctx context.Context, ds *Dataset) []testItem {
	t.Helper()
	got, err := TakeAllAs[testItem](ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func sameItems(t *testing.T, got, want []testItem) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

func mapItem(it testItem) testItem {
	return testItem{ID: it.ID, X: it.X*2 + 1, S: strings.ToUpper(it.S), B: !it.B}
}

var mapStruct = MapFn("test.mapStruct", func(ctx context.Context, it testItem) (testItem, error) { return mapItem(it), nil })

func TestMap(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		got := takeItems(t, ctx, randomDataset(t, ctx, seed, items).Map(mapStruct))
		want := make([]testItem, len(items))
		for i, it := range items {
			want[i] = mapItem(it)
		}
		sameItems(t, got, want)
	})
}

var keepEvenB = FilterFn("test.keepB", func(ctx context.Context, it testItem) (bool, error) { return it.B && it.ID%3 != 0, nil })

func TestFilter(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		got := takeItems(t, ctx, randomDataset(t, ctx, seed, items).Filter(keepEvenB))
		var want []testItem
		for _, it := range items {
			if it.B && it.ID%3 != 0 {
				want = append(want, it)
			}
		}
		sameItems(t, got, want)
	})
}

var repeat = FlatMapFn("test.repeat", func(ctx context.Context, it testItem) ([]testItem, error) {
	out := make([]testItem, it.ID%3)
	for i := range out {
		out[i] = testItem{ID: it.ID*10 + int64(i), X: it.X, S: it.S, B: it.B}
	}
	return out, nil
})

func TestFlatMap(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		got := takeItems(t, ctx, randomDataset(t, ctx, seed, items).FlatMap(repeat))
		var want []testItem
		for _, it := range items {
			for i := range it.ID % 3 {
				want = append(want, testItem{ID: it.ID*10 + i, X: it.X, S: it.S, B: it.B})
			}
		}
		sameItems(t, got, want)
	})
}

// The batch functions in each format add "n", the length of the batch
// they were given, and scale x.
var (
	batchArrow = MapBatchesFn("test.batchArrow", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
		cols := ToColumns(b)
		scaleColumns(cols)
		return columnsToBatch(cols, b.Schema())
	})
	batchColumns = MapBatchesFn("test.batchColumns", func(ctx context.Context, cols Columns) (Columns, error) {
		scaleColumns(cols)
		return cols, nil
	})
	batchRows = MapBatchesFn("test.batchRows", func(ctx context.Context, rows []Row) ([]Row, error) {
		for _, r := range rows {
			r["x"] = r["x"].(float64) * 3
			r["n"] = int64(len(rows))
		}
		return rows, nil
	})
)

func scaleColumns(cols Columns) {
	xs := cols["x"].([]float64)
	n := make([]int64, len(xs))
	for i := range xs {
		xs[i] *= 3
		n[i] = int64(len(xs))
	}
	cols["n"] = n
}

type itemN struct {
	testItem
	N int64 `data:"n"`
}

func TestMapBatches(t *testing.T) {
	ctx := testCtx(t)
	for _, fn := range []*BatchFunc{batchArrow, batchColumns, batchRows} {
		for _, size := range []int{0, 1, 7, 100} {
			t.Run(fmt.Sprintf("%s/batch=%d", fn.Name(), size), func(t *testing.T) {
				items := randomItems(uint64(size), 500)
				ds := randomDataset(t, ctx, uint64(size), items).MapBatches(fn, BatchSize(size))
				got, err := TakeAllAs[itemN](ctx, ds)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(items) {
					t.Fatalf("%d rows, want %d", len(got), len(items))
				}
				for i, g := range got {
					want := items[i]
					want.X *= 3
					if g.testItem != want {
						t.Fatalf("row %d: %+v, want %+v", i, g.testItem, want)
					}
				}
				checkBatchLengths(t, got, size)
			})
		}
	}
}

// checkBatchLengths checks that rows came in batches of size rows, but
// for a short last batch of a task: runs of equal n, each n long, or
// shorter only when the next run starts a new task.
func checkBatchLengths(t *testing.T, got []itemN, size int) {
	t.Helper()
	for i := 0; i < len(got); {
		n := int(got[i].N)
		if n <= 0 || i+n > len(got) {
			t.Fatalf("row %d says its batch had %d rows", i, n)
		}
		for j := i; j < i+n; j++ {
			if int(got[j].N) != n {
				t.Fatalf("rows %d..%d were one batch of %d, row %d says %d", i, i+n, n, j, got[j].N)
			}
		}
		if size > 0 && n > size {
			t.Fatalf("a batch of %d rows with batch size %d", n, size)
		}
		i += n
	}
}

// counter is a class's state: the number of the instance.
type counter struct {
	id    int64
	calls int64
}

var poolScale = MapBatchesClass("test.poolScale", func(ctx context.Context, _ struct{}) (*counter, error) {
	return &counter{id: rand.Int64()}, nil
}, func(c *counter, ctx context.Context, cols Columns) (Columns, error) {
	c.calls++
	xs := cols["x"].([]float64)
	inst := make([]int64, len(xs))
	for i := range xs {
		xs[i] = -xs[i]
		inst[i] = c.id
	}
	cols["inst"] = inst
	return cols, nil
})

func TestMapBatchesActorPool(t *testing.T) {
	ctx := testCtx(t)
	items := randomItems(3, 3000)
	ds, err := FromItems(ctx, items, OverrideNumBlocks(30))
	if err != nil {
		t.Fatal(err)
	}
	for _, bounds := range [][2]int{{1, 1}, {1, 3}, {2, 2}} {
		t.Run(fmt.Sprintf("pool=%v", bounds), func(t *testing.T) {
			out := ds.MapBatches(poolScale, ActorPoolSize(bounds[0], bounds[1]), BatchSize(50), NumCPUs(0.5))
			rows, err := out.TakeAll(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != len(items) {
				t.Fatalf("%d rows", len(rows))
			}
			insts := map[int64]bool{}
			for i, r := range rows {
				if r["id"].(int64) != items[i].ID || r["x"].(float64) != -items[i].X {
					t.Fatalf("row %d: %v, want %+v negated", i, r, items[i])
				}
				insts[r["inst"].(int64)] = true
			}
			if len(insts) < bounds[0] && len(items) > 0 || len(insts) > bounds[1] {
				t.Fatalf("%d actors' instances made the rows, the pool is %v", len(insts), bounds)
			}
		})
	}
}

func TestMapBatchesClassNeedsPoolBoundsOnly(t *testing.T) {
	ctx := testCtx(t)
	_, err := Range(10).MapBatches(batchColumns, ActorPoolSize(1, 2)).TakeAll(ctx)
	if err == nil || !strings.Contains(err.Error(), "ActorPoolSize is for classes") {
		t.Fatalf("err = %v", err)
	}
}

var ratio = ColumnFn("test.ratio", func(ctx context.Context, cols Columns) (any, error) {
	ids, xs := cols["id"].([]int64), cols["x"].([]float64)
	out := make([]float64, len(ids))
	for i := range ids {
		out[i] = xs[i] / float64(ids[i]+1)
	}
	return out, nil
})

func TestColumns(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		ds := randomDataset(t, ctx, seed, items).AddColumn("r", ratio).DropColumns("s").SelectColumns("r", "id", "b")
		rows, err := ds.TakeAll(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != len(items) {
			t.Fatalf("%d rows", len(rows))
		}
		for i, r := range rows {
			it := items[i]
			want := Row{"r": it.X / float64(it.ID+1), "id": it.ID, "b": it.B}
			if !reflect.DeepEqual(r, want) {
				t.Fatalf("row %d: %v, want %v", i, r, want)
			}
		}
		if len(items) > 0 {
			s, err := ds.Schema(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got := columnNames(s); !slices.Equal(got, []string{"r", "id", "b"}) {
				t.Fatalf("columns %v", got)
			}
		}
	})
	if _, err := Range(5).SelectColumns("nope").TakeAll(ctx); err == nil || !strings.Contains(err.Error(), `no column "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestLimit(t *testing.T) {
	ctx := testCtx(t)
	property(t, func(t *testing.T, seed uint64, items []testItem) {
		for _, n := range []int64{0, 1, 5, int64(len(items)) / 2, int64(len(items)) + 3} {
			got := takeItems(t, ctx, randomDataset(t, ctx, seed, items).Map(mapStruct).Limit(n))
			want := make([]testItem, 0, n)
			for _, it := range items[:min(int(n), len(items))] {
				want = append(want, mapItem(it))
			}
			sameItems(t, got, want)
		}
	})
}

// A Limit stops its input: a small limit over a long range does not run
// every read.
func TestLimitStopsUpstream(t *testing.T) {
	ctx := testCtx(t)
	opts := DefaultExecutionOptions()
	opts.MaxTasksPerOp = 2
	ds := Range(100_000, OverrideNumBlocks(200)).Map(mapRow).Limit(10).WithExecutionOptions(opts)
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 10 {
		t.Fatalf("%d rows", len(rows))
	}
	st := ds.last.get()
	st.ops[0].mu.Lock()
	tasks := st.ops[0].tasks
	st.ops[0].mu.Unlock()
	if tasks > 10 {
		t.Fatalf("%d read tasks ran for 10 rows of a 200-block range", tasks)
	}
}

var mapRow = MapFn("test.mapRow", func(ctx context.Context, r Row) (Row, error) {
	r["sq"] = r["id"].(int64) * r["id"].(int64)
	return r, nil
})

// scaler's state is its constructor argument.
type scaler struct{ factor float64 }

var scaleBy = MapBatchesClass("test.scaleBy", func(ctx context.Context, cfg struct{ Factor float64 }) (*scaler, error) {
	if cfg.Factor == 0 {
		return nil, fmt.Errorf("no factor")
	}
	return &scaler{factor: cfg.Factor}, nil
}, func(s *scaler, ctx context.Context, cols Columns) (Columns, error) {
	xs := cols["x"].([]float64)
	for i := range xs {
		xs[i] *= s.factor
	}
	return cols, nil
})

func TestMapBatchesClassConstructorArg(t *testing.T) {
	ctx := testCtx(t)
	items := randomItems(4, 200)
	ds := randomDataset(t, ctx, 4, items)
	// Two pools of one class, with different arguments.
	got := takeItems(t, ctx, ds.MapBatches(scaleBy, ConstructorArg(struct{ Factor float64 }{2}), NumCPUs(0.5)).
		MapBatches(scaleBy, ConstructorArg(struct{ Factor float64 }{-3}), NumCPUs(0.5)))
	want := make([]testItem, len(items))
	for i, it := range items {
		it.X = it.X * 2 * -3
		want[i] = it
	}
	sameItems(t, got, want)
	// A constructor's failure fails the run, naming the class.
	_, err := ds.MapBatches(scaleBy, NumCPUs(0.5)).Count(ctx)
	wantErr(t, err, "test.scaleBy", "no factor")
	_, err = ds.MapBatches(batchColumns, ConstructorArg(1)).Count(ctx)
	wantErr(t, err, "ConstructorArg is for classes")
}
