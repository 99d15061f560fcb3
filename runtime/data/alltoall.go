package data

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"

	"github.com/goray-dev/goray/runtime/ray"
)

// Repartition makes n blocks of (nearly) equal rows, keeping the order of
// rows (Ray's repartition). An all-to-all operator: see shuffle.go.
func (d *Dataset) Repartition(n int) *Dataset {
	if n <= 0 {
		return d.errorf("Repartition(%d): the number of blocks must be positive", n)
	}
	return d.with(&logicalOp{name: fmt.Sprintf("Repartition(%d)", n), shuffle: &shuffleSpec{Kind: "repartition", Parts: n}})
}

// RandomShuffle shuffles all rows (Ray's random_shuffle): the same seed on
// the same blocks gives the same order.
func (d *Dataset) RandomShuffle(seed uint64) *Dataset {
	return d.with(&logicalOp{name: "RandomShuffle", shuffle: &shuffleSpec{Kind: "shuffle", Seed: seed}})
}

// Sort sorts the rows by column key (Ray's sort), nulls first (last when
// descending); rows of equal keys keep their order. Numbers compare by
// value, strings by bytes.
func (d *Dataset) Sort(key string, descending bool) *Dataset {
	name := "Sort(" + key + ")"
	if descending {
		name = "Sort(" + key + ", descending)"
	}
	return d.with(&logicalOp{name: name, shuffle: &shuffleSpec{Kind: "sort", Key: key, Descending: descending}})
}

// GroupedData is a dataset grouped by a key column (Ray's groupby).
type GroupedData struct {
	d   *Dataset
	key string
}

// GroupBy groups rows by column key for aggregations or MapGroups.
func (d *Dataset) GroupBy(key string) *GroupedData { return &GroupedData{d: d, key: key} }

// AggregateFn is an aggregation of GroupedData.Aggregate.
type AggregateFn struct{ spec aggSpec }

// Count counts a group's rows (column "count()").
func Count() AggregateFn { return AggregateFn{aggSpec{Kind: "count"}} }

// Sum sums column on, skipping nulls (column "sum(on)"): int64 for integer
// columns, float64 for float ones.
func Sum(on string) AggregateFn { return AggregateFn{aggSpec{Kind: "sum", On: on}} }

// Mean is column on's mean, skipping nulls ("mean(on)").
func Mean(on string) AggregateFn { return AggregateFn{aggSpec{Kind: "mean", On: on}} }

// Min is column on's least value ("min(on)").
func Min(on string) AggregateFn { return AggregateFn{aggSpec{Kind: "min", On: on}} }

// Max is column on's greatest value ("max(on)").
func Max(on string) AggregateFn { return AggregateFn{aggSpec{Kind: "max", On: on}} }

// Std is column on's sample standard deviation (ddof 1, Ray's default;
// 0 for a single value) ("std(on)").
func Std(on string) AggregateFn { return AggregateFn{aggSpec{Kind: "std", On: on}} }

// Aggregate computes aggs per group: a row per key, sorted by key, with
// the key column and a column per aggregation.
func (g *GroupedData) Aggregate(aggs ...AggregateFn) *Dataset {
	specs := make([]aggSpec, len(aggs))
	names := make([]string, len(aggs))
	for i, a := range aggs {
		specs[i], names[i] = a.spec, a.spec.name()
	}
	return g.d.with(&logicalOp{name: fmt.Sprintf("GroupBy(%s).Aggregate%v", g.key, names),
		shuffle: &shuffleSpec{Kind: "groupby", Key: g.key, Aggs: specs}})
}

// Count is Aggregate(Count()).
func (g *GroupedData) Count() *Dataset { return g.Aggregate(Count()) }

// Sum is Aggregate(Sum(col) for each col).
func (g *GroupedData) Sum(cols ...string) *Dataset { return g.Aggregate(each(Sum, cols)...) }

// Mean is Aggregate(Mean(col) for each col).
func (g *GroupedData) Mean(cols ...string) *Dataset { return g.Aggregate(each(Mean, cols)...) }

// Min is Aggregate(Min(col) for each col).
func (g *GroupedData) Min(cols ...string) *Dataset { return g.Aggregate(each(Min, cols)...) }

// Max is Aggregate(Max(col) for each col).
func (g *GroupedData) Max(cols ...string) *Dataset { return g.Aggregate(each(Max, cols)...) }

// Std is Aggregate(Std(col) for each col).
func (g *GroupedData) Std(cols ...string) *Dataset { return g.Aggregate(each(Std, cols)...) }

func each(f func(string) AggregateFn, cols []string) []AggregateFn {
	out := make([]AggregateFn, len(cols))
	for i, c := range cols {
		out[i] = f(c)
	}
	return out
}

// MapGroups applies fn (a MapBatchesFn) to each group's rows at once, in
// key order (Ray's map_groups).
func (g *GroupedData) MapGroups(fn *BatchFunc) *Dataset {
	if fn == nil || fn.u.newState != nil {
		return g.d.errorf("MapGroups: takes a MapBatchesFn function")
	}
	return g.d.with(&logicalOp{name: fmt.Sprintf("GroupBy(%s).MapGroups(%s)", g.key, fn.u.name),
		shuffle: &shuffleSpec{Kind: "mapgroups", Key: g.key, Fn: fn.u.name}})
}

// Unique is the distinct values of column col, sorted (Ray's unique).
func (d *Dataset) Unique(ctx context.Context, col string) ([]any, error) {
	rows, err := d.GroupBy(col).Count().TakeAll(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]any, len(rows))
	for i, r := range rows {
		out[i] = r[col]
	}
	return out, nil
}

// runShuffle runs an all-to-all operator.
func (e *execution) runShuffle(ctx context.Context, op *physicalOp) <-chan item {
	out := make(chan item)
	in := e.start(ctx, op.input)
	st := e.stats.op(op.name)
	go func() {
		defer close(out)
		defer st.finish()
		if err := e.shuffle(ctx, op, in, st, out); err != nil {
			send(ctx, out, item{err: &OperatorError{Op: op.name, Err: err}})
		}
	}()
	return out
}

func (e *execution) shuffle(ctx context.Context, op *physicalOp, in <-chan item, st *opStats, out chan<- item) error {
	var inputs []bundle
	var total, bytes int64
	for it := range in {
		if it.err != nil {
			send(ctx, out, it)
			return nil
		}
		if it.b.meta.Schema == "" && it.b.meta.Rows == 0 {
			continue // no rows, no columns: nothing to shuffle
		}
		inputs = append(inputs, it.b)
		total += it.b.meta.Rows
		bytes += it.b.meta.Bytes
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// An input block is released once the map task that read it is done
	// (Ray Data frees an all-to-all operator's consumed inputs too): a
	// block in store memory makes room for the parts, one spilled frees
	// its file (before the kernel wrote it out, if that is soon enough).
	// The rest go when the operator ends.
	var relMu sync.Mutex
	released := make([]bool, len(inputs))
	releaseInputs := func(lo, hi int) {
		relMu.Lock()
		defer relMu.Unlock()
		for i := lo; i < hi; i++ {
			if !released[i] {
				released[i] = true
				inputs[i].release()
			}
		}
	}
	var mapsDone sync.WaitGroup
	defer func() {
		mapsDone.Wait()
		releaseInputs(0, len(inputs))
	}()
	spec := *op.shuffle
	spec.Name = op.name
	if spec.Parts <= 0 {
		spec.Parts = shuffleParts(len(inputs), bytes, e.opts.MaxTasksPerOp)
		if spec.Kind == "groupby" {
			spec.Parts = aggregateParts(len(inputs), bytes, e.opts.MaxTasksPerOp)
		} else {
			spec.Outputs = shuffleOutputs(bytes, spec.Parts)
		}
	}
	outputs := max(1, spec.Outputs)
	if len(inputs) == 0 {
		return nil
	}
	retries := ray.MaxRetries(e.opts.MaxTaskRetries)
	if spec.sorted() {
		bounds, err := e.sampleBounds(ctx, spec, inputs)
		if err != nil {
			return err
		}
		spec.Bounds = bounds
	}
	groups := mapGroupsOf(inputs, e.opts.MaxTasksPerOp)
	parts := make([][]ray.Ref[[]byte], len(groups))
	offsets := make([]int64, len(groups))
	var offset int64
	for i, g := range groups {
		offsets[i] = offset
		for _, b := range inputs[g[0]:g[1]] {
			offset += b.meta.Rows
		}
	}
	// The map tasks go last input first: the object store keeps the most
	// recently made blocks in memory and spilled the older ones, so the
	// blocks in memory are read (and freed) before parts push them out to
	// disk, where they would be written only to be read back.
	for i := len(groups) - 1; i >= 0; i-- {
		g := groups[i]
		s := spec
		s.Index, s.Offset, s.Total = i, offsets[i], total
		enc, err := json.Marshal(s)
		if err != nil {
			return err
		}
		args := []any{enc}
		for _, b := range inputs[g[0]:g[1]] {
			args = append(args, b.ref)
		}
		refs, err := ray.RemoteN(ctx, shuffleMap, spec.Parts+1, append(args, retries)...)
		if err != nil {
			return err
		}
		parts[i] = refs[:spec.Parts]
		st.taskStarted()
		mapsDone.Add(1)
		go func(done ray.Ref[[]byte], lo, hi int) {
			defer mapsDone.Done()
			defer done.Release() // the parts' row counts: only their arrival is needed
			if _, err := ray.Get(ctx, done); err == nil {
				releaseInputs(lo, hi)
			}
		}(refs[spec.Parts], g[0], g[1])
	}
	// Reduce task j returns its output blocks, then their metadata.
	type reduced struct{ blocks, metas []ray.Ref[[]byte] }
	reds := make([]reduced, spec.Parts)
	submit := func(j int) error {
		s := spec
		s.Index = j
		enc, err := json.Marshal(s)
		if err != nil {
			return err
		}
		args := []any{enc}
		for i := range parts {
			args = append(args, parts[i][j])
		}
		refs, err := ray.RemoteN(ctx, shuffleReduce, 2*outputs, append(args, retries)...)
		if err != nil {
			return err
		}
		reds[j] = reduced{blocks: refs[:outputs], metas: refs[outputs:]}
		st.taskStarted()
		return nil
	}
	next := 0
	for j := range spec.Parts {
		// Reduce tasks run a window of MaxTasksPerOp ahead of the output.
		for ; next < spec.Parts && next < j+e.opts.MaxTasksPerOp; next++ {
			if err := submit(next); err != nil {
				return err
			}
		}
		for k := range outputs {
			meta, err := getMeta(ctx, reds[j].metas[k])
			if err != nil {
				return err
			}
			if k == 0 {
				for i := range parts {
					parts[i][j].Release()
				}
			}
			st.block(meta)
			if !send(ctx, out, item{b: bundle{ref: reds[j].blocks[k], meta: meta, owned: true}}) {
				return nil
			}
		}
	}
	return nil
}

// A shuffle of many blocks does not cut every input block into a part per
// output block (n² objects: 2.3 million parts for 10 GB of 6.5 MB blocks):
// a map task takes consecutive input blocks of about shuffleMapBytes, and
// a reduce task about shuffleBlockBytes (Ray Data's
// target_max_block_size), so a 10 GB sort has 160 map tasks of 80 parts;
// a reduce task cuts its rows into blocks of at most shuffleOutputBytes.
// Small inputs keep a map task per block and an output block per input
// block, as Ray's shuffles do.
const (
	shuffleMapBytes   = 64 << 20
	shuffleBlockBytes = 128 << 20
	// shuffleSmall is the most input blocks a shuffle cuts one by one.
	shuffleSmall = 64
)

// shuffleOutputBytes is about the most bytes of a block a sort or random
// shuffle's reduce task makes: a task whose rows are more cuts them into
// several blocks (in order), each under the 64 MiB a worker hands its
// node in shared memory (objectstore.SegmentSize; a larger object goes
// through gRPC in chunks, which cost the 10 GB sort an eighth of its CPU
// time).
const shuffleOutputBytes = 48 << 20

// shuffleOutputs is how many blocks each reduce task of a shuffle of bytes
// into parts reduce tasks makes.
func shuffleOutputs(bytes int64, parts int) int {
	per := bytes / int64(max(1, parts))
	return max(1, int((per+shuffleOutputBytes-1)/shuffleOutputBytes))
}

// shuffleParts is how many reduce tasks a shuffle of n input blocks
// (bytes in all) makes when not told.
func shuffleParts(n int, bytes int64, maxTasks int) int {
	if n <= shuffleSmall {
		return max(1, n)
	}
	return min(n, max(shuffleSmall, maxTasks, int((bytes+shuffleBlockBytes-1)/shuffleBlockBytes)))
}

// mapGroupsOf cuts the inputs into the [start, end) runs of blocks the map
// tasks take: one block each for small inputs, else runs of about
// shuffleMapBytes, at least maxTasks of them.
func mapGroupsOf(inputs []bundle, maxTasks int) [][2]int {
	var bytes int64
	for _, b := range inputs {
		bytes += b.meta.Bytes
	}
	per := bytes / int64(max(1, maxTasks))
	if len(inputs) <= shuffleSmall {
		per = 0
	}
	per = min(per, shuffleMapBytes)
	var out [][2]int
	start, acc := 0, int64(0)
	for i, b := range inputs {
		acc += b.meta.Bytes
		if acc >= per || i == len(inputs)-1 {
			out = append(out, [2]int{start, i + 1})
			start, acc = i+1, 0
		}
	}
	return out
}

// aggregatePartBytes is about the partial aggregates' bytes an
// aggregation's reduce task combines.
const aggregatePartBytes = 128 << 20

// aggregateParts is how many reduce tasks combine an aggregation's n
// partial aggregates (bytes in all): the partial states are small, so not
// one per input block (n² parts) but enough for the operator's tasks at
// once, or more if the states are large, and never more than the inputs.
func aggregateParts(n int, bytes int64, maxTasks int) int {
	return max(1, min(n, max(maxTasks, int((bytes+aggregatePartBytes-1)/aggregatePartBytes))))
}

// sampledBlocks is the most input blocks a sort samples.
const sampledBlocks = 256

// sampleBounds samples the input blocks' keys and picks the Parts-1
// boundaries that cut the sample into equal ranges.
func (e *execution) sampleBounds(ctx context.Context, spec shuffleSpec, inputs []bundle) ([]byte, error) {
	// Many blocks: sample sampledBlocks of them, evenly spread (a sample
	// reads its whole block, maybe back from disk). Skewed keys in the
	// others make parts of uneven sizes, never a wrong order.
	picked := inputs
	if len(inputs) > sampledBlocks {
		picked = make([]bundle, sampledBlocks)
		for k := range picked {
			picked[k] = inputs[k*len(inputs)/sampledBlocks]
		}
	}
	refs := make([]ray.Ref[[]byte], len(picked))
	for i, b := range picked {
		refs[i] = sampleKeys.Remote(ctx, spec, b.ref, ray.MaxRetries(e.opts.MaxTaskRetries))
	}
	var samples []arrow.RecordBatch
	for _, r := range refs {
		raw, err := ray.Get(ctx, r)
		if err != nil {
			return nil, err
		}
		rec, err := decodeBlock(raw)
		if err != nil {
			return nil, err
		}
		samples = append(samples, rec)
	}
	all, err := concatBatches(samples[0].Schema(), samples)
	if err != nil {
		return nil, fmt.Errorf("the key column's type differs between blocks: %w", err)
	}
	order := sortIndices(all, 0, false)
	var pick []int64
	for k := 1; k < spec.Parts; k++ {
		if len(order) > 0 {
			pick = append(pick, order[k*len(order)/spec.Parts])
		}
	}
	bounds, err := takeRows(ctx, all, pick)
	if err != nil {
		return nil, err
	}
	return encodeBlock(bounds)
}

// Union is this dataset's rows, then each other's, in order (Ray's
// union). The inputs run at once, each within its own budgets.
func (d *Dataset) Union(others ...*Dataset) *Dataset {
	ops := make([]*logicalOp, 0, len(others))
	for _, o := range others {
		if o == nil {
			return d.errorf("Union: a nil dataset")
		}
		ops = append(ops, o.op)
	}
	return d.with(&logicalOp{name: fmt.Sprintf("Union(%d)", len(others)+1), union: ops})
}

// runUnion emits its inputs' blocks, one input after the other.
func (e *execution) runUnion(ctx context.Context, op *physicalOp) <-chan item {
	out := make(chan item)
	ins := make([]<-chan item, len(op.union))
	for i, u := range op.union {
		ins[i] = e.start(ctx, u)
	}
	st := e.stats.op(op.name)
	go func() {
		defer close(out)
		defer st.finish()
		for _, in := range ins {
			for it := range in {
				if it.err == nil {
					st.block(passedOn(it.b.meta))
				}
				if !send(ctx, out, it) || it.err != nil {
					return
				}
			}
		}
	}()
	return out
}

// Aggregate computes aggs over the whole dataset (Ray's
// ds.aggregate(...)): a Row with a column per aggregation ("sum(x)", ...).
func (d *Dataset) Aggregate(ctx context.Context, aggs ...AggregateFn) (Row, error) {
	specs := make([]aggSpec, len(aggs))
	names := make([]string, len(aggs))
	for i, a := range aggs {
		specs[i], names[i] = a.spec, a.spec.name()
	}
	agg := d.with(&logicalOp{name: fmt.Sprintf("Aggregate%v", names), shuffle: &shuffleSpec{Kind: "groupby", Parts: 1, Aggs: specs}})
	rows, err := agg.TakeAll(ctx)
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		// No blocks at all: counts are 0, other aggregations null.
		r := Row{}
		for _, a := range specs {
			r[a.name()] = nil
			if a.Kind == "count" {
				r[a.name()] = int64(0)
			}
		}
		return r, nil
	}
	return rows[0], nil
}

// Sum is the sum of column col (Ray's ds.sum): int64 or float64; nil
// without values.
func (d *Dataset) Sum(ctx context.Context, col string) (any, error) { return d.agg1(ctx, Sum(col)) }

// Mean is column col's mean (Ray's ds.mean).
func (d *Dataset) Mean(ctx context.Context, col string) (any, error) { return d.agg1(ctx, Mean(col)) }

// Min is column col's least value (Ray's ds.min).
func (d *Dataset) Min(ctx context.Context, col string) (any, error) { return d.agg1(ctx, Min(col)) }

// Max is column col's greatest value (Ray's ds.max).
func (d *Dataset) Max(ctx context.Context, col string) (any, error) { return d.agg1(ctx, Max(col)) }

// Std is column col's sample standard deviation (Ray's ds.std).
func (d *Dataset) Std(ctx context.Context, col string) (any, error) { return d.agg1(ctx, Std(col)) }

func (d *Dataset) agg1(ctx context.Context, a AggregateFn) (any, error) {
	r, err := d.Aggregate(ctx, a)
	if err != nil {
		return nil, err
	}
	return r[a.spec.name()], nil
}
