package data

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// The worker side of a fused operator: a task receives a taskSpec (a read
// or one input block, then the chain of stages fused into it) and streams
// the chain's output blocks back.

// stageSpec is one stage of a fused chain.
type stageSpec struct {
	Op        string     `json:"op"` // Map, FlatMap, Filter, MapBatches, AddColumn, DropColumns, SelectColumns, Write, PartialAggregate
	Fn        string     `json:"fn,omitempty"`
	BatchSize int        `json:"batch_size,omitempty"`
	Columns   []string   `json:"columns,omitempty"`
	Write     *writeSpec `json:"write,omitempty"`
	// CtorArg is a class's constructor argument (JSON).
	CtorArg []byte `json:"ctor_arg,omitempty"`
	// Fraction and Seed are a RandomSample's.
	Fraction float64 `json:"fraction,omitempty"`
	Seed     uint64  `json:"seed,omitempty"`
	// Key and Aggs are a PartialAggregate's grouping and aggregations;
	// Name is its aggregation operator's, for errors.
	Key  string    `json:"key,omitempty"`
	Aggs []aggSpec `json:"aggs,omitempty"`
	Name string    `json:"name,omitempty"`
}

// readSpec is the read a read task does.
type readSpec struct {
	Format string   `json:"format"` // range, parquet, csv, json, text, binary
	Paths  []string `json:"paths,omitempty"`
	// Start and End bound a range read's ids.
	Start int64 `json:"start,omitempty"`
	End   int64 `json:"end,omitempty"`
	// Rows is the most rows of a block read.
	Rows         int  `json:"rows"`
	IncludePaths bool `json:"include_paths,omitempty"`
	// Columns, if any, are the only columns read, in this order.
	Columns []string `json:"columns,omitempty"`
}

// taskSpec is what one task of a fused operator does.
type taskSpec struct {
	Read   *readSpec   `json:"read,omitempty"`
	Stages []stageSpec `json:"stages"`
	// Source is where the input block came from (a file), for errors.
	Source string `json:"source,omitempty"`
	// Index is the input block's position in its operator's input (write
	// file names).
	Index int `json:"index"`
	// BlockBytes is the size the task gathers its output batches into
	// blocks of (ExecutionOptions.TargetMaxBlockBytes).
	BlockBytes int64 `json:"block_bytes,omitempty"`
}

// stage is a stage on the worker: push takes a batch, flush ends the
// input (batching stages hold rows until their batch is full).
type stage interface {
	push(ctx context.Context, rec arrow.RecordBatch, src string, emit srcEmit) error
	flush(ctx context.Context, emit srcEmit) error
}

type srcEmit func(rec arrow.RecordBatch, src string) error

// buildStages makes a chain's stages; states holds the instances of class
// functions (on an actor), by stage index.
func buildStages(specs []stageSpec, states map[int]any, index int) ([]stage, error) {
	out := make([]stage, 0, len(specs))
	for i, s := range specs {
		switch s.Op {
		case "DropColumns", "SelectColumns":
			out = append(out, &projectStage{spec: s})
		case "RandomSample":
			out = append(out, &sampleStage{spec: s, rng: rand.New(rand.NewPCG(s.Seed, uint64(index)))})
		case "PartialAggregate":
			out = append(out, newPartialAggStage(s))
		case "Write":
			if s.Write == nil {
				return nil, fmt.Errorf("data: write stage without its spec")
			}
			out = append(out, &writeStage{spec: *s.Write, index: index})
		default:
			u, err := lookupUDF(s.Fn)
			if err != nil {
				return nil, err
			}
			if u.kind != s.Op {
				return nil, fmt.Errorf("data: function %q is a %s function, used in %s", s.Fn, u.kind, s.Op)
			}
			st := states[i]
			if u.newState != nil && st == nil {
				return nil, fmt.Errorf("data: class %q runs on an actor pool only", s.Fn)
			}
			out = append(out, &fnStage{u: u, spec: s, state: st})
		}
	}
	return out, nil
}

// chain pushes batches through stages; the last stage's output goes to
// emit.
type chain struct {
	ctx    context.Context
	stages []stage
	emit   srcEmit
}

func (c *chain) emitFrom(i int) srcEmit {
	if i == len(c.stages) {
		return c.emit
	}
	return func(rec arrow.RecordBatch, src string) error {
		if rec.NumRows() == 0 && rec.NumCols() == 0 {
			// A row function that made no rows cannot tell its columns:
			// the batch carries nothing for the stages after it.
			return nil
		}
		return c.stages[i].push(c.ctx, rec, src, c.emitFrom(i+1))
	}
}

func (c *chain) push(rec arrow.RecordBatch, src string) error {
	if err := c.ctx.Err(); err != nil {
		return err
	}
	return c.emitFrom(0)(rec, src)
}

// flush ends the input: each stage flushes in order, its held rows going
// through the stages after it.
func (c *chain) flush() error {
	for i, s := range c.stages {
		if err := s.flush(c.ctx, c.emitFrom(i+1)); err != nil {
			return err
		}
	}
	return nil
}

// fnStage runs a user function; with a batch size it runs it on batches of
// exactly that many rows (the last may be short), joining or cutting the
// blocks that come in.
type fnStage struct {
	u     *udf
	spec  stageSpec
	state any

	held     []arrow.RecordBatch
	heldRows int64
	heldSrc  string
}

func (f *fnStage) run(ctx context.Context, rec arrow.RecordBatch, src string, emit srcEmit) error {
	var out arrow.RecordBatch
	var err error
	if f.u.kind == "AddColumn" {
		if len(f.spec.Columns) != 1 {
			return fmt.Errorf("data: AddColumn(%s) without its column name", f.u.name)
		}
		out, err = addColumn(ctx, f.u, rec, src, f.spec.Columns[0])
	} else {
		out, err = f.u.apply(ctx, f.state, rec, src)
	}
	if err != nil {
		return err
	}
	return emit(out, src)
}

func (f *fnStage) push(ctx context.Context, rec arrow.RecordBatch, src string, emit srcEmit) error {
	size := int64(f.spec.BatchSize)
	if size <= 0 {
		return f.run(ctx, rec, src, emit)
	}
	if len(f.held) == 0 {
		f.heldSrc = src
	} else if f.heldSrc != src {
		f.heldSrc = ""
	}
	f.held = append(f.held, rec)
	f.heldRows += rec.NumRows()
	for f.heldRows >= size {
		all, err := concatBatches(f.held[0].Schema(), f.held)
		if err != nil {
			return fmt.Errorf("%s(%s): %w", f.u.kind, f.u.name, err)
		}
		batch := all.NewSlice(0, size)
		rest := all.NewSlice(size, all.NumRows())
		f.held, f.heldRows = nil, rest.NumRows()
		if rest.NumRows() > 0 {
			f.held = []arrow.RecordBatch{rest}
		}
		if err := f.run(ctx, batch, f.heldSrc, emit); err != nil {
			return err
		}
	}
	return nil
}

func (f *fnStage) flush(ctx context.Context, emit srcEmit) error {
	if len(f.held) == 0 {
		return nil
	}
	all, err := concatBatches(f.held[0].Schema(), f.held)
	if err != nil {
		return err
	}
	f.held, f.heldRows = nil, 0
	return f.run(ctx, all, f.heldSrc, emit)
}

// projectStage drops or selects columns.
type projectStage struct{ spec stageSpec }

func (p *projectStage) push(_ context.Context, rec arrow.RecordBatch, src string, emit srcEmit) error {
	out, err := project(rec, p.spec.Op, p.spec.Columns)
	if err != nil {
		return err
	}
	return emit(out, src)
}

func (p *projectStage) flush(context.Context, srcEmit) error { return nil }

// project is SelectColumns (in the order given) or DropColumns of rec.
func project(rec arrow.RecordBatch, op string, cols []string) (arrow.RecordBatch, error) {
	schema := rec.Schema()
	var keep []int
	if op == "SelectColumns" {
		for _, c := range cols {
			idx := schema.FieldIndices(c)
			if len(idx) == 0 {
				return nil, fmt.Errorf("SelectColumns: no column %q (columns: %v)", c, columnNames(schema))
			}
			keep = append(keep, idx[0])
		}
	} else {
		for _, c := range cols {
			if len(schema.FieldIndices(c)) == 0 {
				return nil, fmt.Errorf("DropColumns: no column %q (columns: %v)", c, columnNames(schema))
			}
		}
		for i, f := range schema.Fields() {
			if !slices.Contains(cols, f.Name) {
				keep = append(keep, i)
			}
		}
	}
	fields := make([]arrow.Field, len(keep))
	arrs := make([]arrow.Array, len(keep))
	for j, i := range keep {
		fields[j], arrs[j] = schema.Field(i), rec.Column(i)
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, rec.NumRows()), nil
}

func columnNames(s *arrow.Schema) []string {
	out := make([]string, s.NumFields())
	for i, f := range s.Fields() {
		out[i] = f.Name
	}
	return out
}

// sampleStage keeps each row with probability Fraction, from a generator
// seeded by the seed and the task's input index: the same seed on the
// same blocks keeps the same rows.
type sampleStage struct {
	spec stageSpec
	rng  *rand.Rand
}

func (s *sampleStage) push(_ context.Context, rec arrow.RecordBatch, src string, emit srcEmit) error {
	var parts []arrow.RecordBatch
	start := -1
	n := int(rec.NumRows())
	for i := 0; i <= n; i++ {
		keep := i < n && s.rng.Float64() < s.spec.Fraction
		switch {
		case keep && start < 0:
			start = i
		case !keep && start >= 0:
			parts = append(parts, rec.NewSlice(int64(start), int64(i)))
			start = -1
		}
	}
	out, err := concatBatches(rec.Schema(), parts)
	if err != nil {
		return err
	}
	return emit(out, src)
}

func (s *sampleStage) flush(context.Context, srcEmit) error { return nil }
