package data

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
)

func randomAggRows(rng *rand.Rand, n int) []Row {
	rows := make([]Row, n)
	for r := range rows {
		row := Row{"k": int64(rng.IntN(7)), "s": fmt.Sprintf("g%d", rng.IntN(5)), "b": []byte{byte(rng.IntN(3))},
			"u": uint32(rng.IntN(1000)), "f": nil, "i": nil}
		if rng.IntN(4) > 0 {
			row["f"] = rng.NormFloat64() * 10
		}
		if rng.IntN(4) > 0 {
			row["i"] = int64(rng.IntN(2000) - 1000)
		}
		if rng.IntN(9) == 0 {
			row["f"] = math.NaN()
		}
		rows[r] = row
	}
	return rows
}

var aggSchema = arrow.NewSchema([]arrow.Field{
	{Name: "k", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
	{Name: "s", Type: arrow.BinaryTypes.String, Nullable: true},
	{Name: "b", Type: arrow.BinaryTypes.Binary, Nullable: true},
	{Name: "u", Type: arrow.PrimitiveTypes.Uint32, Nullable: true},
	{Name: "f", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
	{Name: "i", Type: arrow.PrimitiveTypes.Int64, Nullable: true},
}, nil)

var allAggs = []aggSpec{{Kind: "count"}, {Kind: "sum", On: "i"}, {Kind: "sum", On: "f"}, {Kind: "sum", On: "u"}, {Kind: "mean", On: "i"},
	{Kind: "mean", On: "f"}, {Kind: "min", On: "s"}, {Kind: "max", On: "i"}, {Kind: "min", On: "b"}, {Kind: "std", On: "i"}, {Kind: "std", On: "u"}}

// refAggregate is the aggregation of rows by key in plain Go: nulls
// skipped, float sums in row order, Std in two passes.
func refAggregate(rows []Row, key string, aggs []aggSpec) []Row {
	byKey := map[any][]Row{}
	var keys []any
	norm := func(k any) any {
		switch x := k.(type) {
		case []byte:
			return string(x)
		case float64:
			if math.IsNaN(x) {
				return "NaN"
			}
		}
		return k
	}
	for _, r := range rows {
		k := r[key]
		gk := norm(k)
		if _, ok := byKey[gk]; !ok {
			keys = append(keys, k)
		}
		byKey[gk] = append(byKey[gk], r)
	}
	slices.SortFunc(keys, compareValues)
	var out []Row
	for _, k := range keys {
		g := byKey[norm(k)]
		o := Row{}
		if key != "" {
			o[key] = k
		}
		for _, a := range aggs {
			var vals []any
			for _, r := range g {
				if v := r[a.On]; v != nil {
					vals = append(vals, v)
				}
			}
			var res any
			switch {
			case a.Kind == "count":
				res = int64(len(g))
			case len(vals) == 0:
			case a.Kind == "min":
				res = slices.MinFunc(vals, compareValues)
			case a.Kind == "max":
				res = slices.MaxFunc(vals, compareValues)
			default:
				var fs float64
				var is int64
				for _, v := range vals {
					f, _ := toFloat(v)
					fs += f
					is += intValue(v)
				}
				_, isFloat := vals[0].(float64)
				mean := fs / float64(len(vals))
				switch a.Kind {
				case "sum":
					res = is
					if isFloat {
						res = fs
					}
				case "mean":
					res = mean
				case "std":
					var ss float64
					for _, v := range vals {
						f, _ := toFloat(v)
						ss += (f - mean) * (f - mean)
					}
					res = 0.0
					if len(vals) > 1 {
						res = math.Sqrt(ss / float64(len(vals)-1))
					}
				}
			}
			o[a.name()] = res
		}
		out = append(out, o)
	}
	return out
}

// aggClose compares aggregation rows: integers exactly, floats within a
// relative 1e-9 (sums in another order), NaN equal to NaN.
func aggClose(a, b Row) bool {
	if len(a) != len(b) {
		return false
	}
	for k, want := range b {
		got := a[k]
		wf, wok := want.(float64)
		gf, gok := got.(float64)
		switch {
		case wok && gok:
			if math.IsNaN(wf) || math.IsNaN(gf) {
				if math.IsNaN(wf) != math.IsNaN(gf) {
					return false
				}
				continue
			}
			if math.Abs(wf-gf) > 1e-9*math.Max(1, math.Max(math.Abs(wf), math.Abs(gf))) {
				return false
			}
		case compareValues(got, want) != 0 || (got == nil) != (want == nil):
			return false
		}
	}
	return true
}

// Partial aggregates of random blocks, split among random tasks, combined
// in random groups of parts: the same rows as the aggregation of all rows
// at once, for each kind of key, with a global aggregate too.
func TestPartialAggregatesCombine(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 3))
		rows := randomAggRows(rng, rng.IntN(300))
		for _, key := range []string{"k", "s", "b", "f", ""} {
			aggs := allAggs
			if key != "" {
				aggs = slices.DeleteFunc(slices.Clone(allAggs), func(a aggSpec) bool { return a.On == key })
			}
			spec := stageSpec{Op: "PartialAggregate", Key: key, Aggs: aggs, Name: "GroupBy(" + key + ")"}
			// Rows cut into blocks, blocks into tasks.
			var parts []arrow.RecordBatch
			st := newPartialAggStage(spec)
			for lo := 0; lo < len(rows); {
				hi := min(len(rows), lo+1+rng.IntN(40))
				rec, err := rowsToBatch(rows[lo:hi], aggSchema)
				if err != nil {
					t.Fatal(err)
				}
				if err := st.push(ctx, rec, "", nil); err != nil {
					t.Fatal(err)
				}
				lo = hi
				if rng.IntN(3) == 0 || lo == len(rows) {
					if err := st.flush(ctx, func(rec arrow.RecordBatch, _ string) error {
						parts = append(parts, rec)
						return nil
					}); err != nil {
						t.Fatal(err)
					}
					st = newPartialAggStage(spec)
				}
			}
			want := refAggregate(rows, key, aggs)
			if len(parts) == 0 {
				if len(rows) != 0 {
					t.Fatalf("seed %d key %q: no partial aggregates of %d rows", seed, key, len(rows))
				}
				continue
			}
			rng.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
			out, err := combineAggregates(shuffleSpec{Kind: "groupby", Key: key, Aggs: aggs, Name: spec.Name}, parts)
			if err != nil {
				t.Fatal(err)
			}
			got := batchToRows(out)
			if len(got) != len(want) {
				t.Fatalf("seed %d key %q: %d groups, want %d", seed, key, len(got), len(want))
			}
			for i := range want {
				if !aggClose(got[i], want[i]) {
					t.Fatalf("seed %d key %q: group %d\n got %v\nwant %v", seed, key, i, got[i], want[i])
				}
			}
		}
	}
}

// A NaN key is one group (as Sort orders it), and so is each byte string.
func TestGroupKeys(t *testing.T) {
	if groupKey(math.NaN()) != groupKey(-math.NaN()) || groupKey(float32(math.NaN())) != groupKey(math.NaN()) {
		t.Fatal("NaNs in different groups")
	}
	if groupKey([]byte("ab")) != groupKey([]byte("ab")) || groupKey([]byte("ab")) == groupKey("ab") {
		t.Fatal("byte keys")
	}
	if groupKey([]int64{1, 2}) != groupKey([]int64{1, 2}) || groupKey([]int64{1, 2}) == groupKey([]int64{2, 1}) {
		t.Fatal("list keys")
	}
	if groupKey(int64(3)) != int64(3) || groupKey(nil) != nil {
		t.Fatal("comparable keys change")
	}
}

// The blocks of a partial aggregate share a schema whatever their rows;
// a column whose type changes between blocks is an error naming it.
func TestPartialAggregateErrors(t *testing.T) {
	ctx := context.Background()
	st := newPartialAggStage(stageSpec{Op: "PartialAggregate", Key: "k", Aggs: []aggSpec{{Kind: "sum", On: "s"}}, Name: "GroupBy(k)"})
	rec, _ := rowsToBatch([]Row{{"k": int64(1), "s": "x"}}, nil)
	err := st.push(ctx, rec, "", nil)
	if err == nil || err.Error() != "GroupBy(k): sum(s) of a utf8 column" {
		t.Fatalf("sum of strings: %v", err)
	}
	st = newPartialAggStage(stageSpec{Op: "PartialAggregate", Key: "k", Aggs: []aggSpec{{Kind: "max", On: "v"}}, Name: "GroupBy(k)"})
	a, _ := rowsToBatch([]Row{{"k": int64(1), "v": int64(2)}}, nil)
	b, _ := rowsToBatch([]Row{{"k": int64(1), "v": "2"}}, nil)
	if err := st.push(ctx, a, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := st.push(ctx, b, "", nil); err == nil {
		t.Fatal("a column of two types in one aggregation")
	}
	if _, _, err := newPartialAggStage(stageSpec{Key: "nope", Name: "GroupBy(nope)"}).columns(a); err == nil {
		t.Fatal("a missing key column")
	}
	// A block that is not a partial aggregate of the aggregation.
	spec := shuffleSpec{Kind: "groupby", Key: "k", Aggs: []aggSpec{{Kind: "std", On: "v"}}, Name: "GroupBy(k)"}
	if _, err := combineAggregates(spec, []arrow.RecordBatch{a}); err == nil || !strings.Contains(err.Error(), "without the state of std(v)") {
		t.Fatalf("combining a block without the states: %v", err)
	}
	spec.Key = "x"
	if _, err := combineAggregates(spec, []arrow.RecordBatch{a}); err == nil || !strings.Contains(err.Error(), "without the key column") {
		t.Fatalf("combining a block without the key: %v", err)
	}
}

func TestAggregateParts(t *testing.T) {
	for _, c := range []struct {
		n        int
		bytes    int64
		maxTasks int
		want     int
	}{
		{0, 0, 4, 1}, {1, 10, 4, 1}, {300, 2 << 20, 4, 4}, {3, 2 << 20, 4, 3}, {300, 1 << 30, 4, 8}, {5, 1 << 30, 2, 5},
	} {
		if got := aggregateParts(c.n, c.bytes, c.maxTasks); got != c.want {
			t.Errorf("aggregateParts(%d, %d, %d) = %d, want %d", c.n, c.bytes, c.maxTasks, got, c.want)
		}
	}
}
