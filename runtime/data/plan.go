package data

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Dataset is a lazy plan: sources and transforms only describe it, and
// nothing runs until it is consumed (Take, Count, IterBatches, a Write,
// Materialize, ...). Each consumption runs the plan again, as in Ray
// Data, unless the dataset was materialized. A Dataset is immutable:
// every transform returns a new one, so one plan can branch.
type Dataset struct {
	op   *logicalOp
	opts ExecutionOptions
	// last is the most recent execution's stats (Stats).
	last *statsCell
}

// logicalOp is a node of the logical plan: a source (input nil) or an
// operator on its input.
type logicalOp struct {
	input *logicalOp
	name  string // as shown in stats, e.g. "ReadParquet", "MapBatches(score)"

	// A source is reads (one task each) or blocks already in the object
	// store (FromItems, a materialized dataset).
	reads  []readSpec
	blocks []bundle
	// lazyReads computes reads when the plan runs (the cluster's size
	// decides how many); err is a source's error, reported then.
	lazyReads func(cpus int) ([]readSpec, error)
	err       error

	// A map-like operator is one stage, fused with its neighbours when
	// their compute is the same.
	stage   *stageSpec
	compute compute

	// isLimit: a Limit of limit rows.
	isLimit bool
	limit   int64
	// shuffle is an all-to-all operator.
	shuffle *shuffleSpec
	// union: this dataset's blocks, then each of these datasets'.
	union []*logicalOp
	// zip: this dataset's columns beside that one's.
	zip *logicalOp
}

// compute is where a map-like stage runs: tasks, or an actor pool.
type compute struct {
	pool          bool
	minActors     int
	maxActors     int
	maxConcurrent int // tasks at once (0: the executor's default)
	resources     map[string]float64
	ctorArg       string // a class's constructor argument
}

func (c compute) equal(o compute) bool {
	return c.pool == o.pool && c.minActors == o.minActors && c.maxActors == o.maxActors &&
		c.maxConcurrent == o.maxConcurrent && maps.Equal(c.resources, o.resources) && c.ctorArg == o.ctorArg
}

func (c compute) String() string {
	if c.pool {
		return fmt.Sprintf("ActorPool(min=%d, max=%d)", c.minActors, c.maxActors)
	}
	return "Tasks"
}

func (d *Dataset) with(op *logicalOp) *Dataset {
	op.input = d.op
	return &Dataset{op: op, opts: d.opts, last: &statsCell{}}
}

func newSource(op *logicalOp) *Dataset {
	return &Dataset{op: op, opts: DefaultExecutionOptions(), last: &statsCell{}}
}

// errorf makes a dataset whose execution fails with err: the builder
// methods return no error, as Ray's do, and a misuse shows when it runs.
func (d *Dataset) errorf(format string, args ...any) *Dataset {
	return d.with(&logicalOp{name: "Error", err: fmt.Errorf(format, args...)})
}

// MapOption configures a map-like transform.
type MapOption func(*mapOptions)

type mapOptions struct {
	batchSize int
	compute   compute
	poolSet   bool
	ctorArg   any
	ctorSet   bool
}

// BatchSize sets how many rows MapBatches gives the function at once
// (Ray's batch_size). Batches never span blocks of different tasks: the
// last batch of a task may be short. 0 (the default) gives whole blocks.
func BatchSize(n int) MapOption { return func(o *mapOptions) { o.batchSize = n } }

// ConstructorArg is the argument a class's constructor gets on each actor
// (Ray's fn_constructor_kwargs): a value of the class's argument type,
// sent as JSON.
func ConstructorArg(v any) MapOption {
	return func(o *mapOptions) { o.ctorArg, o.ctorSet = v, true }
}

// Concurrency bounds the tasks of the operator running at once; for a
// class, it is the pool's fixed size (Ray's concurrency=n).
func Concurrency(n int) MapOption {
	return func(o *mapOptions) {
		o.compute.maxConcurrent = n
		o.compute.minActors, o.compute.maxActors = n, n
	}
}

// ActorPoolSize bounds a class's actor pool (Ray's concurrency=(min, max)):
// it starts min actors and adds up to max while input waits for them.
func ActorPoolSize(minActors, maxActors int) MapOption {
	return func(o *mapOptions) {
		o.compute.minActors, o.compute.maxActors = minActors, maxActors
		o.poolSet = true
	}
}

// NumCPUs sets the CPUs of each task or actor (tasks default to 1).
func NumCPUs(n float64) MapOption { return resource("CPU", n) }

// NumGPUs sets the GPUs of each task or actor.
func NumGPUs(n float64) MapOption { return resource("GPU", n) }

// Resources sets custom resources of each task or actor.
func Resources(r map[string]float64) MapOption {
	return func(o *mapOptions) {
		for k, v := range r {
			resource(k, v)(o)
		}
	}
}

func resource(name string, n float64) MapOption {
	return func(o *mapOptions) {
		if o.compute.resources == nil {
			o.compute.resources = map[string]float64{}
		}
		o.compute.resources[name] = n
	}
}

func (d *Dataset) mapStage(kind string, u *udf, opts []MapOption) *Dataset {
	if u == nil {
		return d.errorf("%s: a nil function", kind)
	}
	var o mapOptions
	for _, f := range opts {
		f(&o)
	}
	if u.newState != nil {
		o.compute.pool = true
		if o.compute.minActors <= 0 {
			o.compute.minActors = 1
		}
		if o.compute.maxActors < o.compute.minActors {
			o.compute.maxActors = max(o.compute.minActors, 4)
		}
	} else if o.poolSet {
		return d.errorf("%s(%s): ActorPoolSize is for classes (MapBatchesClass); use Concurrency for tasks", kind, u.name)
	}
	if o.batchSize < 0 {
		return d.errorf("%s(%s): batch size %d", kind, u.name, o.batchSize)
	}
	spec := &stageSpec{Op: kind, Fn: u.name, BatchSize: o.batchSize}
	if o.ctorSet {
		if u.newState == nil {
			return d.errorf("%s(%s): ConstructorArg is for classes (MapBatchesClass)", kind, u.name)
		}
		arg, err := json.Marshal(o.ctorArg)
		if err != nil {
			return d.errorf("%s(%s): the constructor argument: %v", kind, u.name, err)
		}
		spec.CtorArg = arg
		// Actors built with different arguments are different pools.
		o.compute.ctorArg = string(arg)
	}
	return d.with(&logicalOp{name: fmt.Sprintf("%s(%s)", kind, u.name), stage: spec, compute: o.compute})
}

// Map applies fn to every row (Ray's map).
func (d *Dataset) Map(fn *MapFunc, opts ...MapOption) *Dataset {
	if fn == nil {
		return d.errorf("Map: a nil function")
	}
	return d.mapStage("Map", fn.u, opts)
}

// FlatMap applies fn to every row, each giving any number of rows.
func (d *Dataset) FlatMap(fn *FlatMapFunc, opts ...MapOption) *Dataset {
	if fn == nil {
		return d.errorf("FlatMap: a nil function")
	}
	return d.mapStage("FlatMap", fn.u, opts)
}

// Filter keeps the rows for which fn returns true.
func (d *Dataset) Filter(fn *FilterFunc, opts ...MapOption) *Dataset {
	if fn == nil {
		return d.errorf("Filter: a nil function")
	}
	return d.mapStage("Filter", fn.u, opts)
}

// MapBatches applies fn to batches of rows (Ray's map_batches): in tasks,
// or on an actor pool when fn is a class (MapBatchesClass).
func (d *Dataset) MapBatches(fn *BatchFunc, opts ...MapOption) *Dataset {
	if fn == nil {
		return d.errorf("MapBatches: a nil function")
	}
	return d.mapStage("MapBatches", fn.u, opts)
}

// AddColumn adds (or replaces) column col with fn's values for each batch.
func (d *Dataset) AddColumn(col string, fn *ColumnFunc, opts ...MapOption) *Dataset {
	if fn == nil {
		return d.errorf("AddColumn: a nil function")
	}
	if col == "" {
		return d.errorf("AddColumn(%s): an empty column name", fn.u.name)
	}
	nd := d.mapStage("AddColumn", fn.u, opts)
	if nd.op.stage != nil {
		nd.op.stage.Columns = []string{col}
	}
	return nd
}

// DropColumns removes columns; a missing one is an error.
func (d *Dataset) DropColumns(cols ...string) *Dataset {
	return d.with(&logicalOp{name: "DropColumns(" + strings.Join(cols, ", ") + ")",
		stage: &stageSpec{Op: "DropColumns", Columns: cols}})
}

// SelectColumns keeps only cols, in that order; a missing one is an error.
func (d *Dataset) SelectColumns(cols ...string) *Dataset {
	return d.with(&logicalOp{name: "SelectColumns(" + strings.Join(cols, ", ") + ")",
		stage: &stageSpec{Op: "SelectColumns", Columns: cols}})
}

// RandomSample keeps each row with probability fraction (Ray's
// random_sample), in order; the same seed on the same blocks keeps the
// same rows.
func (d *Dataset) RandomSample(fraction float64, seed uint64) *Dataset {
	if !(fraction >= 0 && fraction <= 1) { // NaN too
		return d.errorf("RandomSample(%v): the fraction must be in [0, 1]", fraction)
	}
	return d.with(&logicalOp{name: fmt.Sprintf("RandomSample(%v)", fraction),
		stage: &stageSpec{Op: "RandomSample", Fraction: fraction, Seed: seed}})
}

// Limit keeps the first n rows. Upstream work stops once they are there.
func (d *Dataset) Limit(n int64) *Dataset {
	if n < 0 {
		return d.errorf("Limit(%d): a negative limit", n)
	}
	return d.with(&logicalOp{name: fmt.Sprintf("Limit(%d)", n), isLimit: true, limit: n})
}

// WithExecutionOptions returns the dataset run with opts.
func (d *Dataset) WithExecutionOptions(opts ExecutionOptions) *Dataset {
	return &Dataset{op: d.op, opts: opts, last: &statsCell{}}
}

// String shows the logical plan, source first.
func (d *Dataset) String() string {
	var names []string
	for op := d.op; op != nil; op = op.input {
		names = append(names, op.name)
	}
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return "Dataset(" + strings.Join(names, " -> ") + ")"
}

// physicalOp is an operator of the executed plan: a fused chain of stages
// over a source's reads or blocks, or over another operator's output; or
// a Limit.
type physicalOp struct {
	name    string
	input   *physicalOp
	reads   []readSpec
	blocks  []bundle
	stages  []stageSpec
	compute compute
	isLimit bool
	limit   int64
	shuffle *shuffleSpec
	union   []*physicalOp
	zip     *physicalOp
	// streamedInto: the operator's consumer is a map operator, which
	// takes its blocks while it runs (set when the plan runs).
	streamedInto bool
}

// plan turns the logical plan into physical operators, fusing each run of
// map-like stages of the same compute into one operator, and a source's
// reads with the stages after it (Ray's operator fusion): a block then
// goes from the file through every fused function in one task, never
// through the object store between them.
func plan(root *logicalOp, cpus, blockRows int) (*physicalOp, error) {
	var chain []*logicalOp
	for op := root; op != nil; op = op.input {
		chain = append(chain, op)
	}
	var cur *physicalOp
	for i := len(chain) - 1; i >= 0; i-- {
		op := chain[i]
		if op.err != nil {
			return nil, op.err
		}
		switch {
		case op.input == nil: // a source
			reads := op.reads
			if op.lazyReads != nil {
				var err error
				if reads, err = op.lazyReads(cpus); err != nil {
					return nil, err
				}
			}
			reads = slices.Clone(reads)
			for i := range reads {
				reads[i].Rows = max(1, blockRows)
			}
			cur = &physicalOp{name: op.name, reads: reads, blocks: op.blocks}
		case op.stage != nil:
			fusable := !cur.isLimit && cur.shuffle == nil && cur.union == nil && cur.zip == nil && (len(cur.stages) > 0 && cur.compute.equal(op.compute) ||
				len(cur.stages) == 0 && cur.reads != nil && !op.compute.pool)
			if op.stage.Op == "Write" {
				// A write fuses into whatever makes its blocks.
				fusable = cur.makesBlocks()
			}
			if fusable {
				cur.name += "->" + op.name
				cur.stages = append(cur.stages, *op.stage)
				if len(cur.stages) == 1 {
					cur.compute = op.compute
				}
			} else {
				cur = &physicalOp{name: op.name, input: cur, stages: []stageSpec{*op.stage}, compute: op.compute}
			}
		case op.isLimit:
			cur = &physicalOp{name: op.name, input: cur, isLimit: true, limit: op.limit}
		case op.shuffle != nil:
			if op.shuffle.Kind == "groupby" {
				// An aggregation's first phase folds each task's blocks
				// into partial states where the blocks are made (see
				// aggregate.go).
				partial := stageSpec{Op: "PartialAggregate", Key: op.shuffle.Key, Aggs: op.shuffle.Aggs, Name: op.name}
				if cur.makesBlocks() {
					cur.name += "->PartialAggregate"
					cur.stages = append(cur.stages, partial)
				} else {
					cur = &physicalOp{name: "PartialAggregate", input: cur, stages: []stageSpec{partial}}
				}
			}
			cur = &physicalOp{name: op.name, input: cur, shuffle: op.shuffle}
		case op.union != nil:
			u := &physicalOp{name: op.name, union: []*physicalOp{cur}}
			for _, o := range op.union {
				p, err := plan(o, cpus, blockRows)
				if err != nil {
					return nil, err
				}
				u.union = append(u.union, p)
			}
			cur = u
		case op.zip != nil:
			z, err := plan(op.zip, cpus, blockRows)
			if err != nil {
				return nil, err
			}
			cur = &physicalOp{name: op.name, input: cur, zip: z}
		}
	}
	return cur, nil
}

// makesBlocks: the operator is reads or map stages, which a stage that
// runs anywhere (a write, a partial aggregate) can fuse into.
func (p *physicalOp) makesBlocks() bool {
	return !p.isLimit && p.shuffle == nil && p.union == nil && p.zip == nil && (p.reads != nil || len(p.stages) > 0)
}
