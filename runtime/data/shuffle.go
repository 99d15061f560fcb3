package data

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/goray-dev/goray/runtime/ray"
)

// All-to-all operators (Repartition, RandomShuffle, Sort, GroupBy) are a
// map and a reduce stage of tasks, Ray's pull-based shuffle: each map
// task cuts one input block into a part per output partition (each part
// its own object, through the SDK's multiple returns), and reduce task j
// takes part j of every map task's output (TaskVar) and makes output
// block j. Sort and GroupBy first sample the keys of every block to choose
// the partitions' boundaries, so partition j holds a range of keys and the
// output is sorted across blocks. The operator is a barrier: it takes its
// whole input before it emits, and its map parts are all in the object
// store until reduced.

// shuffleSpec is an all-to-all operator as its tasks see it.
type shuffleSpec struct {
	Kind       string `json:"kind"` // repartition, shuffle, sort, groupby, mapgroups
	Parts      int    `json:"parts"`
	Seed       uint64 `json:"seed,omitempty"`
	Key        string `json:"key,omitempty"`
	Descending bool   `json:"descending,omitempty"`
	// Bounds are the sorted boundary keys (Parts-1 of them), an encoded
	// one-column block.
	Bounds []byte    `json:"bounds,omitempty"`
	Aggs   []aggSpec `json:"aggs,omitempty"`
	Fn     string    `json:"fn,omitempty"`
	// Offset and Total place a map task's block in the whole input
	// (repartition keeps the order of rows).
	Offset int64 `json:"offset,omitempty"`
	Total  int64 `json:"total,omitempty"`
	// Outputs is how many blocks a reduce task cuts its rows into (0: one).
	Outputs int `json:"outputs,omitempty"`
	// Index is the map task's block, or the reduce task's partition.
	Index int `json:"index"`
	// Name is the operator's, for errors.
	Name string `json:"name"`
}

func (s shuffleSpec) sorted() bool {
	return (s.Kind == "sort" || s.Kind == "groupby" || s.Kind == "mapgroups") && s.Key != ""
}

// sampleKeys is a sample of a block's keys: at most n rows, one column.
var sampleKeys = ray.Task2("goray.data.sample", func(ctx context.Context, spec shuffleSpec, block []byte) ([]byte, error) {
	rec, err := decodeBlock(block)
	if err != nil {
		return nil, err
	}
	col, err := keyColumn(rec, spec.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	const n = 64
	rows := int(rec.NumRows())
	var idx []int64
	for i := range min(n, rows) {
		idx = append(idx, int64(i*rows/min(n, rows)))
	}
	sample, err := takeRows(ctx, projectIndex(rec, col), idx)
	if err != nil {
		return nil, err
	}
	return encodeBlock(sample)
})

// shuffleMap cuts its blocks (consecutive input blocks, taken as one)
// into spec.Parts parts, and returns them and, as a last element, the rows
// of each part (JSON). So it has at least two returns: the SDK's RemoteN
// with one return stores the whole slice as that one object. Its first
// argument is the encoded spec.
var shuffleMap = ray.TaskVar("goray.data.shuffleMap", func(ctx context.Context, args [][]byte) ([][]byte, error) {
	if len(args) < 2 {
		return nil, fmt.Errorf("shuffle map without its spec and blocks")
	}
	var spec shuffleSpec
	if err := json.Unmarshal(args[0], &spec); err != nil {
		return nil, err
	}
	blocks, err := decodeBlocks(args[1:])
	if err != nil {
		return nil, err
	}
	if len(blocks) == 0 {
		blocks = append(blocks, emptyBatch(arrow.NewSchema(nil, nil)))
	}
	parts, done, err := partition(ctx, spec, blocks)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spec.Name, err)
	}
	defer done()
	out := make([][]byte, len(parts)+1)
	rows := make([]int64, len(parts))
	for i, p := range parts {
		if out[i], err = encodeBlock(p); err != nil {
			return nil, err
		}
		rows[i] = p.NumRows()
	}
	if out[len(parts)], err = json.Marshal(rows); err != nil {
		return nil, err
	}
	return out, nil
})

// shuffleReduce makes the output blocks of partition spec.Index from its
// parts: its first argument is the encoded spec, the others the parts in
// input order. It returns spec.Outputs blocks (at least one), then their
// metadata: twice as many objects.
var shuffleReduce = ray.TaskVar("goray.data.shuffleReduce", func(ctx context.Context, args [][]byte) ([][]byte, error) {
	clock := newTaskClock()
	if len(args) == 0 {
		return nil, fmt.Errorf("shuffle reduce without its spec")
	}
	var spec shuffleSpec
	if err := json.Unmarshal(args[0], &spec); err != nil {
		return nil, err
	}
	parts, err := decodeBlocks(args[1:])
	if err != nil {
		return nil, err
	}
	out, done, err := reduce(ctx, spec, parts)
	if err != nil {
		return nil, err
	}
	defer done()
	// The rows in spec.Outputs blocks of about equal rows, then their
	// metadata.
	k := max(1, spec.Outputs)
	res := make([][]byte, 2*k)
	rows := out.NumRows()
	for i := range k {
		blk := out
		if k > 1 {
			blk = out.NewSlice(rows*int64(i)/int64(k), rows*int64(i+1)/int64(k))
		}
		if res[i], res[k+i], err = blockAndMeta(nil, blk, clock, "", nil); err != nil {
			return nil, err
		}
	}
	return res, nil
})

// decodeBlocks decodes a shuffle task's block arguments, leaving out the
// blocks without columns (they carry nothing).
func decodeBlocks(args [][]byte) ([]arrow.RecordBatch, error) {
	var out []arrow.RecordBatch
	for _, a := range args {
		rec, err := decodeBlock(a)
		if err != nil {
			return nil, err
		}
		if rec.NumCols() > 0 {
			out = append(out, rec)
		}
	}
	return out, nil
}

// keyColumn is the index of column key in rec.
func keyColumn(rec arrow.RecordBatch, key string) (int, error) {
	idx := rec.Schema().FieldIndices(key)
	if len(idx) == 0 {
		return 0, fmt.Errorf("no column %q (columns: %v)", key, columnNames(rec.Schema()))
	}
	return idx[0], nil
}

// projectIndex is column i of rec alone.
func projectIndex(rec arrow.RecordBatch, i int) arrow.RecordBatch {
	out, _ := project(rec, "SelectColumns", []string{rec.ColumnName(i)})
	return out
}

// compareValues orders Row values of one column: nulls first, then by
// value (numbers across their Go types, strings, bools, times).
func compareValues(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	if fa, ok := toFloat(a); ok {
		if fb, ok := toFloat(b); ok {
			if ia, ok := a.(int64); ok {
				if ib, ok := b.(int64); ok {
					return cmp.Compare(ia, ib)
				}
			}
			return cmp.Compare(fa, fb)
		}
	}
	switch x := a.(type) {
	case string:
		if y, ok := b.(string); ok {
			return cmp.Compare(x, y)
		}
	case []byte:
		if y, ok := b.([]byte); ok {
			return bytes.Compare(x, y)
		}
	case bool:
		if y, ok := b.(bool); ok {
			switch {
			case x == y:
				return 0
			case !x:
				return -1
			}
			return 1
		}
	case time.Time:
		if y, ok := b.(time.Time); ok {
			return x.Compare(y)
		}
	}
	return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b))
}

// toFloat is a numeric value as a float64.
func toFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case int32:
		return float64(x), true
	case int16:
		return float64(x), true
	case int8:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case uint16:
		return float64(x), true
	case uint8:
		return float64(x), true
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

// partition cuts blocks (consecutive input blocks) into spec.Parts
// blocks. Blocks of fixed-width columns without nulls are scattered
// straight into their parts (see gather.go); others are concatenated and
// taken. done gives back the parts' memory once they are encoded.
func partition(ctx context.Context, spec shuffleSpec, blocks []arrow.RecordBatch) (parts []arrow.RecordBatch, done func(), err error) {
	which := make([][]int32, len(blocks)) // the part of each row
	g := spec.Offset                      // the global row of the current row (repartition)
	var rng *rand.Rand
	if spec.Kind == "shuffle" {
		rng = rand.New(rand.NewPCG(spec.Seed, uint64(spec.Index)))
	}
	var bounds arrow.Array
	for b, rec := range blocks {
		n := int(rec.NumRows())
		wh := make([]int32, n)
		which[b] = wh
		switch spec.Kind {
		case "repartition":
			for i := range n {
				// Part j holds global rows [j*Total/Parts, (j+1)*Total/Parts).
				j := int(g * int64(spec.Parts) / max(1, spec.Total))
				for j+1 < spec.Parts && g >= int64(j+1)*spec.Total/int64(spec.Parts) {
					j++
				}
				for j > 0 && g < int64(j)*spec.Total/int64(spec.Parts) {
					j--
				}
				wh[i] = int32(j)
				g++
			}
		case "shuffle":
			for i := range wh {
				wh[i] = int32(rng.IntN(spec.Parts))
			}
		case "groupby":
			if spec.Key == "" {
				break // a global aggregate: one group, one part
			}
			fallthrough
		default:
			col, err := keyColumn(rec, spec.Key)
			if err != nil {
				return nil, nil, err
			}
			keys := rec.Column(col)
			search := func(int) int { return 0 } // no bounds: one part
			if len(spec.Bounds) > 0 {
				if bounds == nil {
					bs, err := decodeBlock(spec.Bounds)
					if err != nil {
						return nil, nil, err
					}
					if bs.NumCols() != 1 {
						return nil, nil, fmt.Errorf("sort bounds of %d columns", bs.NumCols())
					}
					bounds = bs.Column(0)
				}
				search = boundSearch(keys, bounds)
			}
			for i := range wh {
				// The first bound at or above the key: equal keys share a part.
				j := search(i)
				if spec.Descending {
					j = spec.Parts - 1 - j
				}
				wh[i] = int32(j)
			}
		}
	}
	if cols, widths, ok := fixedColumns(blocks); ok && blocks[0].NumCols() > 0 {
		parts, bufs := scatterParts(blocks[0].Schema(), cols, widths, which, spec.Parts)
		return parts, func() { scratch.put(bufs...) }, nil
	}
	rec, err := concatBatches(blocks[0].Schema(), blocks)
	if err != nil {
		return nil, nil, err
	}
	idx := make([][]int64, spec.Parts)
	var i int64
	for _, wh := range which {
		for _, j := range wh {
			idx[j] = append(idx[j], i)
			i++
		}
	}
	parts = make([]arrow.RecordBatch, spec.Parts)
	for j := range parts {
		if parts[j], err = takeRows(ctx, rec, idx[j]); err != nil {
			return nil, nil, err
		}
	}
	return parts, func() {}, nil
}

// sortIndices is the order of rec's rows by key (stable).
func sortIndices(rec arrow.RecordBatch, col int, descending bool) []int64 {
	compare := rowCompare(rec.Column(col))
	idx := make([]int64, rec.NumRows())
	for i := range idx {
		idx[i] = int64(i)
	}
	// Stable by the row number as the last key: pdqsort, O(n log n),
	// where slices.SortStableFunc's insertion sort and symmerge are
	// O(n log² n) (half of a large sort's time).
	sign := 1
	if descending {
		sign = -1
	}
	if prefix := keyPrefixes(rec.Column(col)); prefix != nil {
		// Byte keys: most comparisons end on the first 8 bytes.
		slices.SortFunc(idx, func(a, b int64) int {
			if pa, pb := prefix[a], prefix[b]; pa != pb {
				return sign * cmp.Compare(pa, pb)
			}
			if c := compare(int(a), int(b)); c != 0 {
				return sign * c
			}
			return cmp.Compare(a, b)
		})
		return idx
	}
	slices.SortFunc(idx, func(a, b int64) int {
		if c := compare(int(a), int(b)); c != 0 {
			return sign * c
		}
		return cmp.Compare(a, b)
	})
	return idx
}

// reduce makes an output block of parts. A sort of fixed-width columns
// without nulls sorts (key, row) pairs and gathers the rows from the parts
// (see gather.go) into scratch memory, which done gives back once the
// block is encoded.
func reduce(ctx context.Context, spec shuffleSpec, parts []arrow.RecordBatch) (_ arrow.RecordBatch, done func(), err error) {
	done = func() {}
	if len(parts) == 0 {
		return emptyBatch(arrow.NewSchema(nil, nil)), done, nil
	}
	if spec.Kind == "groupby" {
		// The parts are partial aggregates.
		rec, err := combineAggregates(spec, parts)
		return rec, done, err
	}
	if spec.Kind == "sort" || spec.Kind == "mapgroups" {
		if cols, widths, ok := fixedColumns(parts); ok {
			if col, err := keyColumn(parts[0], spec.Key); err == nil {
				if sorted, bufs, ok := sortRows(parts[0].Schema(), parts, cols, widths, col, spec.Descending); ok {
					if spec.Kind == "mapgroups" {
						// The groups' outputs may be slices of the sorted rows.
						rec, err := mapGroups(ctx, spec, sorted, col)
						return rec, func() { scratch.put(bufs...) }, err
					}
					return sorted, func() { scratch.put(bufs...) }, nil
				}
			}
		}
	}
	all, err := concatBatches(parts[0].Schema(), parts)
	if err != nil {
		return nil, done, fmt.Errorf("%s: %w", spec.Name, err)
	}
	switch spec.Kind {
	case "repartition":
		return all, done, nil
	case "shuffle":
		rng := rand.New(rand.NewPCG(spec.Seed^0x5bd1e995, uint64(spec.Index)))
		perm := rng.Perm(int(all.NumRows()))
		idx := make([]int64, len(perm))
		for i, p := range perm {
			idx[i] = int64(p)
		}
		rec, err := takeRows(ctx, all, idx)
		return rec, done, err
	}
	col, err := keyColumn(all, spec.Key)
	if err != nil {
		return nil, done, fmt.Errorf("%s: %w", spec.Name, err)
	}
	sorted, err := takeRows(ctx, all, sortIndices(all, col, spec.Descending))
	if err != nil {
		return nil, done, err
	}
	if spec.Kind == "mapgroups" {
		rec, err := mapGroups(ctx, spec, sorted, col)
		return rec, done, err
	}
	return sorted, done, nil
}

// groups are the [start, end) row ranges of equal keys in a sorted block.
func groups(rec arrow.RecordBatch, col int) [][2]int64 {
	var out [][2]int64
	n := rec.NumRows()
	compare := rowCompare(rec.Column(col))
	var start int64
	for i := int64(1); i <= n; i++ {
		if i == n || compare(int(i), int(start)) != 0 {
			out = append(out, [2]int64{start, i})
			start = i
		}
	}
	if n == 0 {
		return nil
	}
	return out
}

// mapGroups applies a batch function to each group.
func mapGroups(ctx context.Context, spec shuffleSpec, sorted arrow.RecordBatch, col int) (arrow.RecordBatch, error) {
	u, err := lookupUDF(spec.Fn)
	if err != nil {
		return nil, err
	}
	if u.kind != "MapBatches" || u.newState != nil {
		return nil, fmt.Errorf("%s: MapGroups takes a MapBatchesFn function", spec.Name)
	}
	var outs []arrow.RecordBatch
	for _, g := range groups(sorted, col) {
		o, err := u.apply(ctx, nil, sorted.NewSlice(g[0], g[1]), "")
		if err != nil {
			return nil, err
		}
		if o.NumRows() > 0 {
			outs = append(outs, o)
		}
	}
	if len(outs) == 0 {
		return emptyBatch(arrow.NewSchema(nil, nil)), nil
	}
	return concatBatches(outs[0].Schema(), outs)
}

// aggSpec is one aggregation of a GroupBy.
type aggSpec struct {
	Kind string `json:"kind"` // count, sum, mean, min, max, std
	On   string `json:"on,omitempty"`
}

// name is the output column's name, Ray's: "count()", "sum(x)", ...
func (a aggSpec) name() string { return fmt.Sprintf("%s(%s)", a.Kind, a.On) }
