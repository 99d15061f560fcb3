package data

import (
	"bytes"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// randomColumn makes n values of type dt, a few of them null, from a small
// range so that equal values occur.
func randomColumn(t *testing.T, rng *rand.Rand, dt arrow.DataType, n int) arrow.Array {
	t.Helper()
	b := array.NewBuilder(memory.DefaultAllocator, dt)
	defer b.Release()
	for range n {
		if rng.IntN(10) == 0 {
			b.AppendNull()
			continue
		}
		v := rng.IntN(40)
		switch x := b.(type) {
		case *array.Int64Builder:
			x.Append(int64(v - 20))
		case *array.Int32Builder:
			x.Append(int32(v - 20))
		case *array.Uint8Builder:
			x.Append(uint8(v))
		case *array.Uint64Builder:
			x.Append(uint64(v))
		case *array.Float64Builder:
			f := float64(v)/3 - 5
			if v == 0 {
				f = math.NaN()
			}
			x.Append(f)
		case *array.Float32Builder:
			x.Append(float32(v) / 7)
		case *array.StringBuilder:
			x.Append(string(rune('a'+v%5)) + string(rune('a'+v/5)))
		case *array.BinaryBuilder:
			x.Append([]byte{byte(v * 9), byte(v)}[:1+v%2])
		case *array.FixedSizeBinaryBuilder:
			x.Append([]byte{byte(v * 9), byte(v), 0})
		default:
			t.Fatalf("no generator for %s", dt)
		}
	}
	return b.NewArray()
}

func sign(c int) int { return min(max(c, -1), 1) }

// The typed comparisons order as compareValues does on the boxed values,
// for every type they cover, with nulls.
func TestTypedKeyComparisonMatchesBoxed(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	types := []arrow.DataType{arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Int32, arrow.PrimitiveTypes.Uint8,
		arrow.PrimitiveTypes.Uint64, arrow.PrimitiveTypes.Float64, arrow.PrimitiveTypes.Float32, arrow.BinaryTypes.String,
		arrow.BinaryTypes.Binary, &arrow.FixedSizeBinaryType{ByteWidth: 3}}
	for _, dt := range types {
		a, b := randomColumn(t, rng, dt, 200), randomColumn(t, rng, dt, 50)
		f, ok := crossCompare(a, b)
		if !ok {
			t.Fatalf("%s: no typed comparison", dt)
		}
		for i := range a.Len() {
			for j := range b.Len() {
				want := sign(compareValues(valueAt(a, i), valueAt(b, j)))
				if got := sign(f(i, j)); got != want {
					t.Fatalf("%s: compare(%v, %v) = %d, boxed %d", dt, valueAt(a, i), valueAt(b, j), got, want)
				}
			}
		}
		// Searching bounds finds the first bound at or above each key.
		bounds := randomColumn(t, rng, dt, 9)
		order := sortIndices(array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt, Nullable: true}}, nil),
			[]arrow.Array{bounds}, int64(bounds.Len())), 0, false)
		sorted := make([]any, len(order))
		for k, o := range order {
			sorted[k] = valueAt(bounds, int(o))
		}
		for k := 1; k < len(sorted); k++ {
			if compareValues(sorted[k-1], sorted[k]) > 0 {
				t.Fatalf("%s: sortIndices out of order: %v", dt, sorted)
			}
		}
		sortedBounds, err := takeRows(t.Context(), array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt, Nullable: true}}, nil),
			[]arrow.Array{bounds}, int64(bounds.Len())), order)
		if err != nil {
			t.Fatal(err)
		}
		search := boundSearch(a, sortedBounds.Column(0))
		for i := range a.Len() {
			k := valueAt(a, i)
			want, _ := slices.BinarySearchFunc(sorted, k, compareValues)
			if got := search(i); got != want {
				t.Fatalf("%s: bound of %v = %d, want %d (bounds %v)", dt, k, got, want, sorted)
			}
		}
	}
}

// Binary keys sort by their bytes (they sorted by their decimal rendering
// before: [10] before [9]).
func TestSortBinaryKeysByBytes(t *testing.T) {
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	keys := [][]byte{{10}, {9}, {0, 1}, {255}, {}, {9, 0}}
	for _, k := range keys {
		b.Append(k)
	}
	rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: arrow.BinaryTypes.Binary}}, nil), []arrow.Array{b.NewArray()}, int64(len(keys)))
	var got [][]byte
	for _, i := range sortIndices(rec, 0, false) {
		got = append(got, keys[i])
	}
	want := slices.Clone(keys)
	slices.SortFunc(want, bytes.Compare)
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("sorted %v, want %v", got, want)
		}
	}
}

// sortIndices (byte keys through their 8-byte prefixes, others typed) is
// the stable order of compareValues, ascending and descending.
func TestSortIndicesIsTheStableOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	gen := func(dt arrow.DataType, n int) arrow.Array {
		b := array.NewBuilder(memory.DefaultAllocator, dt)
		for range n {
			k := make([]byte, rng.IntN(12))
			for i := range k {
				k[i] = byte(rng.IntN(3)) // few distinct bytes: long equal prefixes
			}
			switch x := b.(type) {
			case *array.BinaryBuilder:
				x.Append(k)
			case *array.StringBuilder:
				x.Append(string(k))
			case *array.FixedSizeBinaryBuilder:
				x.Append(append(k, make([]byte, 12-len(k))...)[:12])
			case *array.Int64Builder:
				x.Append(int64(rng.IntN(50)))
			}
		}
		return b.NewArray()
	}
	for _, dt := range []arrow.DataType{arrow.BinaryTypes.Binary, arrow.BinaryTypes.String, &arrow.FixedSizeBinaryType{ByteWidth: 12}, arrow.PrimitiveTypes.Int64} {
		col := gen(dt, 3000)
		rec := array.NewRecordBatch(arrow.NewSchema([]arrow.Field{{Name: "k", Type: dt}}, nil), []arrow.Array{col}, int64(col.Len()))
		for _, desc := range []bool{false, true} {
			want := make([]int64, col.Len())
			for i := range want {
				want[i] = int64(i)
			}
			slices.SortStableFunc(want, func(a, b int64) int {
				c := compareValues(valueAt(col, int(a)), valueAt(col, int(b)))
				if desc {
					c = -c
				}
				return c
			})
			if got := sortIndices(rec, 0, desc); !slices.Equal(got, want) {
				t.Fatalf("%s descending %v: sortIndices differs from the stable order", dt, desc)
			}
		}
	}
}
