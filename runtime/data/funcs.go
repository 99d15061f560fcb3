package data

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// User functions are registered at package level under a name, as
// train.Loop and ray.Task are: a Go closure cannot be sent to another
// process, so the pipeline names the function and the worker (the same
// executable) finds it in its own registry. The value a constructor
// returns is what the pipeline takes:
//
//	var parse = data.MapFn("parse", func(ctx context.Context, r Raw) (Parsed, error) { ... })
//	ds = ds.Map(parse)

// udf is a registered function in the form workers run it: over a whole
// batch, with the operator's state (an actor pool's instance) if any.
type udf struct {
	name string
	kind string // "Map", "FlatMap", "Filter", "MapBatches", "AddColumn"
	// apply runs the function over a batch; src names where the batch
	// came from, for errors.
	apply func(ctx context.Context, state any, rec arrow.RecordBatch, src string) (arrow.RecordBatch, error)
	// newState builds a class's instance (actor pools) from its
	// constructor argument (JSON); nil for functions.
	newState func(ctx context.Context, arg []byte) (any, error)
	// column is an AddColumn function.
	column func(ctx context.Context, batch Columns) (any, error)
}

var (
	udfsMu sync.Mutex
	udfs   = map[string]*udf{}
)

func register(u *udf) *udf {
	udfsMu.Lock()
	defer udfsMu.Unlock()
	if _, dup := udfs[u.name]; dup {
		panic(fmt.Sprintf("data: function %q registered twice", u.name))
	}
	udfs[u.name] = u
	return u
}

func lookupUDF(name string) (*udf, error) {
	udfsMu.Lock()
	defer udfsMu.Unlock()
	u, ok := udfs[name]
	if !ok {
		return nil, fmt.Errorf("data: no function %q is registered in this binary (register it at package level)", name)
	}
	return u, nil
}

// MapFunc is a registered one-row-to-one-row function (Dataset.Map).
type MapFunc struct{ u *udf }

// FlatMapFunc is a registered one-row-to-many function (Dataset.FlatMap).
type FlatMapFunc struct{ u *udf }

// FilterFunc is a registered row predicate (Dataset.Filter).
type FilterFunc struct{ u *udf }

// BatchFunc is a registered batch function (Dataset.MapBatches): a plain
// function runs in tasks, a class (MapBatchesClass) on an actor pool.
type BatchFunc struct{ u *udf }

// ColumnFunc is a registered function computing a new column from a batch
// (Dataset.AddColumn).
type ColumnFunc struct{ u *udf }

// Name is the function's registered name.
func (f *MapFunc) Name() string { return f.u.name }

// Name is the function's registered name.
func (f *FlatMapFunc) Name() string { return f.u.name }

// Name is the function's registered name.
func (f *FilterFunc) Name() string { return f.u.name }

// Name is the function's registered name.
func (f *BatchFunc) Name() string { return f.u.name }

// Name is the function's registered name.
func (f *ColumnFunc) Name() string { return f.u.name }

// IsClass reports whether the function is a class (runs on an actor pool).
func (f *BatchFunc) IsClass() bool { return f.u.newState != nil }

// UserFuncError is a user function's failure (its error or panic) on a
// row or batch: the operator, the function, where the input came from.
type UserFuncError struct {
	Op     string // operator, e.g. "Map"
	Func   string // registered name
	Source string // the file the rows were read from, if known
	Row    int    // row within the block; -1 for a batch function
	Value  string // the row, shortened
	Err    error
}

func (e *UserFuncError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s(%s) failed", e.Op, e.Func)
	if e.Row >= 0 {
		fmt.Fprintf(&b, " on row %d", e.Row)
	}
	if e.Source != "" {
		fmt.Fprintf(&b, " of a block read from %s", e.Source)
	}
	if e.Value != "" {
		fmt.Fprintf(&b, " %s", e.Value)
	}
	fmt.Fprintf(&b, ": %v", e.Err)
	return b.String()
}

func (e *UserFuncError) Unwrap() error { return e.Err }

// panicError is a recovered panic of a user function.
type panicError struct {
	value any
	stack string
}

func (p *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", p.value, p.stack) }

// call runs fn, turning a panic into an error.
func call[R any](fn func() (R, error)) (r R, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{value: p, stack: string(debug.Stack())}
		}
	}()
	return fn()
}

// showRow renders a row for an error message, shortened.
func showRow(r Row) string {
	keys := make([]string, 0, len(r))
	for k := range r {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s: %v", k, r[k])
		if b.Len() > 200 {
			b.WriteString(", ...")
			break
		}
	}
	b.WriteString("}")
	s := b.String()
	if len(s) > 240 {
		s = s[:240] + "...}"
	}
	return s
}

// rowLoop runs a per-row function over a batch: each row decoded as In,
// fn's results gathered into Rows, then one output batch.
func rowLoop[In any](ctx context.Context, u *udf, rec arrow.RecordBatch, src string, fn func(in In) ([]Row, error)) (arrow.RecordBatch, error) {
	var out []Row
	for i, r := range batchToRows(rec) {
		rowErr := func(err error) error {
			return &UserFuncError{Op: u.kind, Func: u.name, Source: src, Row: i, Value: showRow(r), Err: err}
		}
		in, err := fromRow[In](r)
		if err != nil {
			return nil, rowErr(err)
		}
		rows, err := call(func() ([]Row, error) { return fn(in) })
		if err != nil {
			return nil, rowErr(err)
		}
		out = append(out, rows...)
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if len(out) == 0 && u.kind == "Filter" {
		// An empty result keeps the input's columns.
		return rec.NewSlice(0, 0), nil
	}
	return rowsToBatch(out, rec.Schema())
}

// MapFn registers fn for Dataset.Map: one output row per input row. In and
// Out are Row or structs (the typed row view).
func MapFn[In, Out any](name string, fn func(ctx context.Context, row In) (Out, error)) *MapFunc {
	u := &udf{name: name, kind: "Map"}
	u.apply = func(ctx context.Context, _ any, rec arrow.RecordBatch, src string) (arrow.RecordBatch, error) {
		return rowLoop(ctx, u, rec, src, func(in In) ([]Row, error) {
			o, err := fn(ctx, in)
			if err != nil {
				return nil, err
			}
			r, err := toRow(o)
			if err != nil {
				return nil, err
			}
			return []Row{r}, nil
		})
	}
	return &MapFunc{u: register(u)}
}

// FlatMapFn registers fn for Dataset.FlatMap: any number of output rows
// per input row.
func FlatMapFn[In, Out any](name string, fn func(ctx context.Context, row In) ([]Out, error)) *FlatMapFunc {
	u := &udf{name: name, kind: "FlatMap"}
	u.apply = func(ctx context.Context, _ any, rec arrow.RecordBatch, src string) (arrow.RecordBatch, error) {
		return rowLoop(ctx, u, rec, src, func(in In) ([]Row, error) {
			os, err := fn(ctx, in)
			if err != nil {
				return nil, err
			}
			rows := make([]Row, len(os))
			for j, o := range os {
				if rows[j], err = toRow(o); err != nil {
					return nil, err
				}
			}
			return rows, nil
		})
	}
	return &FlatMapFunc{u: register(u)}
}

// FilterFn registers fn for Dataset.Filter: the rows for which it returns
// true are kept. The output has the input's columns.
func FilterFn[In any](name string, fn func(ctx context.Context, row In) (bool, error)) *FilterFunc {
	u := &udf{name: name, kind: "Filter"}
	u.apply = func(ctx context.Context, _ any, rec arrow.RecordBatch, src string) (arrow.RecordBatch, error) {
		return filterBatch(ctx, u, rec, src, func(in In) (bool, error) { return fn(ctx, in) })
	}
	return &FilterFunc{u: register(u)}
}

// filterBatch keeps a batch's rows for which keep is true, as slices of
// the input (the columns and their types are untouched).
func filterBatch[In any](ctx context.Context, u *udf, rec arrow.RecordBatch, src string, keep func(In) (bool, error)) (arrow.RecordBatch, error) {
	var parts []arrow.RecordBatch
	start := -1
	for i, r := range batchToRows(rec) {
		in, err := fromRow[In](r)
		var ok bool
		if err == nil {
			ok, err = call(func() (bool, error) { return keep(in) })
		}
		if err != nil {
			return nil, &UserFuncError{Op: u.kind, Func: u.name, Source: src, Row: i, Value: showRow(r), Err: err}
		}
		switch {
		case ok && start < 0:
			start = i
		case !ok && start >= 0:
			parts = append(parts, rec.NewSlice(int64(start), int64(i)))
			start = -1
		}
		if i%1024 == 0 && ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	if start >= 0 {
		parts = append(parts, rec.NewSlice(int64(start), rec.NumRows()))
	}
	return concatBatches(rec.Schema(), parts)
}

// The batch format of a batch function is its batch type B, one of
// arrow.RecordBatch (Ray's "pyarrow"), Columns ("numpy": a typed slice per
// column) or []Row. (Go cannot put an interface type in a type
// constraint's union, so registration checks it.)
func checkBatchFormat[B any](name string) {
	switch any(new(B)).(type) {
	case *arrow.RecordBatch, *Columns, *[]Row:
		return
	}
	panic(fmt.Sprintf("data: function %q: batch type %s is not arrow.RecordBatch, data.Columns or []data.Row", name, reflect.TypeFor[B]()))
}

// fromBatch converts a block to format B.
func fromBatch[B any](rec arrow.RecordBatch) B {
	var zero B
	switch any(zero).(type) {
	case Columns:
		return any(batchToColumns(rec)).(B)
	case []Row:
		return any(batchToRows(rec)).(B)
	}
	return any(rec).(B)
}

// toBatch converts a batch of format B back to a block.
func toBatch[B any](b B, hint *arrow.Schema) (arrow.RecordBatch, error) {
	switch x := any(b).(type) {
	case Columns:
		return columnsToBatch(x, hint)
	case []Row:
		return rowsToBatch(x, hint)
	case arrow.RecordBatch:
		if x == nil {
			return nil, fmt.Errorf("the function returned a nil batch")
		}
		return x, nil
	}
	return nil, fmt.Errorf("unsupported batch type %T", b)
}

func batchApply[B any](ctx context.Context, u *udf, rec arrow.RecordBatch, src string, fn func(B) (B, error)) (arrow.RecordBatch, error) {
	fail := func(err error) error {
		return &UserFuncError{Op: u.kind, Func: u.name, Source: src, Row: -1, Err: err}
	}
	out, err := call(func() (B, error) { return fn(fromBatch[B](rec)) })
	if err != nil {
		return nil, fail(err)
	}
	res, err := toBatch(out, rec.Schema())
	if err != nil {
		return nil, fail(err)
	}
	return res, nil
}

// MapBatchesFn registers fn for Dataset.MapBatches, run in tasks. The
// batch format is fn's type: arrow.RecordBatch, Columns or []Row.
func MapBatchesFn[B any](name string, fn func(ctx context.Context, batch B) (B, error)) *BatchFunc {
	checkBatchFormat[B](name)
	u := &udf{name: name, kind: "MapBatches"}
	u.apply = func(ctx context.Context, _ any, rec arrow.RecordBatch, src string) (arrow.RecordBatch, error) {
		return batchApply(ctx, u, rec, src, func(b B) (B, error) { return fn(ctx, b) })
	}
	return &BatchFunc{u: register(u)}
}

// MapBatchesClass registers a stateful batch function for
// Dataset.MapBatches, Ray's callable class: each actor of the operator's
// pool builds its state once with newState (load a model there) and calls
// fn with it for every batch. newState's argument is the value given with
// the ConstructorArg option of MapBatches (Ray's fn_constructor_kwargs),
// sent to the actors as JSON; its zero value without one.
func MapBatchesClass[S, C, B any](name string, newState func(ctx context.Context, arg C) (*S, error),
	fn func(s *S, ctx context.Context, batch B) (B, error)) *BatchFunc {
	checkBatchFormat[B](name)
	u := &udf{name: name, kind: "MapBatches"}
	u.newState = func(ctx context.Context, raw []byte) (any, error) {
		var arg C
		if len(raw) > 0 {
			if err := json.Unmarshal(raw, &arg); err != nil {
				return nil, fmt.Errorf("the constructor argument: %w", err)
			}
		}
		return call(func() (any, error) {
			s, err := newState(ctx, arg)
			if err != nil {
				return nil, err
			}
			if s == nil {
				return nil, fmt.Errorf("the constructor returned a nil %s", reflect.TypeFor[S]())
			}
			return s, nil
		})
	}
	u.apply = func(ctx context.Context, state any, rec arrow.RecordBatch, src string) (arrow.RecordBatch, error) {
		s, ok := state.(*S)
		if !ok {
			return nil, fmt.Errorf("data: class %q called without its state", name)
		}
		return batchApply(ctx, u, rec, src, func(b B) (B, error) { return fn(s, ctx, b) })
	}
	return &BatchFunc{u: register(u)}
}

// ColumnFn registers fn for Dataset.AddColumn: from a batch in the columns
// format it returns the new column's values, a slice as long as the batch.
func ColumnFn(name string, fn func(ctx context.Context, batch Columns) (any, error)) *ColumnFunc {
	u := &udf{name: name, kind: "AddColumn"}
	u.column = fn
	return &ColumnFunc{u: register(u)}
}

// addColumn sets column col of rec to fn's values for it (replacing a
// column of that name).
func addColumn(ctx context.Context, u *udf, rec arrow.RecordBatch, src, col string) (arrow.RecordBatch, error) {
	fail := func(err error) error {
		return &UserFuncError{Op: u.kind, Func: u.name, Source: src, Row: -1, Err: err}
	}
	vals, err := call(func() (any, error) { return u.column(ctx, batchToColumns(rec)) })
	if err != nil {
		return nil, fail(err)
	}
	nb, err := columnsToBatch(Columns{col: vals}, nil)
	if err != nil {
		return nil, fail(err)
	}
	if nb.NumRows() != rec.NumRows() {
		return nil, fail(fmt.Errorf("the new column %q has %d values for a batch of %d rows", col, nb.NumRows(), rec.NumRows()))
	}
	fields := slices.Clone(rec.Schema().Fields())
	cols := slices.Clone(rec.Columns())
	if idx := rec.Schema().FieldIndices(col); len(idx) > 0 {
		fields[idx[0]], cols[idx[0]] = nb.Schema().Field(0), nb.Column(0)
	} else {
		fields, cols = append(fields, nb.Schema().Field(0)), append(cols, nb.Column(0))
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows()), nil
}
