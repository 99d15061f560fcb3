package data

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Aggregations (GroupBy(...).Aggregate and the whole-dataset aggregates)
// run in two phases, like Ray's hash-shuffle aggregate: a partial
// aggregation, fused into the operator that makes the blocks, folds each
// task's blocks into one row per group holding each aggregation's state
// (a count; a sum; a least or greatest value; for Std the count, mean and
// sum of squared deviations); the all-to-all operator then combines the
// states of each group and finishes them. The dataset's blocks stream
// through and are freed as they go: only the partial states, a row per
// group per task, wait in the object store for the shuffle.

// aggState is one aggregation's state for one group.
type aggState struct {
	n    int64   // rows (count) or non-null values seen
	isum int64   // the sum of an integer column, exact
	fsum float64 // the sum of a float column
	v    any     // the least (min) or greatest (max) value
	// mean and m2 are Std's: the running mean and sum of squared
	// deviations (Welford; states combine with Chan's formula).
	mean, m2 float64
}

// floatType: a column whose sums and means are float64's.
func floatType(t arrow.DataType) bool {
	k := goType(t).Kind()
	return k == reflect.Float64 || k == reflect.Float32
}

// add folds value v (nil: a null) into the state.
func (s *aggState) add(kind string, v any) {
	if kind == "count" {
		s.n++
		return
	}
	if v == nil {
		return
	}
	switch kind {
	case "min", "max":
		if s.n == 0 || kind == "min" && compareValues(v, s.v) < 0 || kind == "max" && compareValues(v, s.v) > 0 {
			s.v = v
		}
		s.n++
		return
	}
	f, _ := toFloat(v)
	s.n++
	switch kind {
	case "sum", "mean":
		s.fsum += f
		s.isum += intValue(v)
	case "std":
		d := f - s.mean
		s.mean += d / float64(s.n)
		s.m2 += d * (f - s.mean)
	}
}

// intValue is an integer value as an int64 (0 for floats: their sums are
// fsum's).
func intValue(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case uint64:
		return int64(x)
	case uint32:
		return int64(x)
	case uint16:
		return int64(x)
	case uint8:
		return int64(x)
	}
	return 0
}

// merge folds another state of the same aggregation into s.
func (s *aggState) merge(kind string, o aggState) {
	if o.n == 0 {
		return
	}
	switch kind {
	case "min", "max":
		if s.n == 0 || kind == "min" && compareValues(o.v, s.v) < 0 || kind == "max" && compareValues(o.v, s.v) > 0 {
			s.v = o.v
		}
	case "std":
		if s.n > 0 {
			n := float64(s.n + o.n)
			d := o.mean - s.mean
			s.mean += d * float64(o.n) / n
			s.m2 += o.m2 + d*d*float64(s.n)*float64(o.n)/n
		} else {
			s.mean, s.m2 = o.mean, o.m2
		}
	}
	s.n += o.n
	s.isum += o.isum
	s.fsum += o.fsum
}

// final is the aggregation's value: null over no values (count: 0).
func (s *aggState) final(kind string, isFloat bool) any {
	if kind == "count" {
		return s.n
	}
	if s.n == 0 {
		return nil
	}
	switch kind {
	case "sum":
		if isFloat {
			return s.fsum
		}
		return s.isum
	case "mean":
		if isFloat {
			return s.fsum / float64(s.n)
		}
		return float64(s.isum) / float64(s.n)
	case "min", "max":
		return s.v
	case "std":
		// The sample standard deviation (ddof=1), Ray's default.
		if s.n < 2 {
			return 0.0
		}
		return math.Sqrt(s.m2 / float64(s.n-1))
	}
	return nil
}

// State columns of a partial aggregate's block, per aggregation i: its
// count always; the sum (as the column's type: int64 or float64) for Sum
// and Mean; the value for Min and Max; mean and m2 for Std.
func stateCol(i int, part string) string { return fmt.Sprintf("__agg%d_%s", i, part) }

// groupKey is a key value as a map key that groups as compareValues
// orders: bytes as a string, NaNs together, values of types that Go
// cannot compare by what they print.
func groupKey(v any) any {
	type bytesKey string
	type nanKey struct{}
	type printedKey string
	switch x := v.(type) {
	case []byte:
		return bytesKey(x)
	case float64:
		if math.IsNaN(x) {
			return nanKey{}
		}
	case float32:
		if math.IsNaN(float64(x)) {
			return nanKey{}
		}
	}
	if v != nil && !reflect.TypeOf(v).Comparable() {
		return printedKey(fmt.Sprintf("%#v", v))
	}
	return v
}

// groupTable holds each group's states, in the order the groups came.
type groupTable struct {
	aggs   []aggSpec
	index  map[any]int
	keys   []any
	states [][]aggState
}

func newGroupTable(aggs []aggSpec) *groupTable {
	return &groupTable{aggs: aggs, index: map[any]int{}}
}

// group is key's group's index, a new group if need be.
func (g *groupTable) group(key any) int {
	k := groupKey(key)
	i, ok := g.index[k]
	if !ok {
		i = len(g.keys)
		g.index[k] = i
		g.keys = append(g.keys, key)
		g.states = append(g.states, make([]aggState, len(g.aggs)))
	}
	return i
}

// partialAggStage folds a task's blocks into a partial aggregate, which it
// emits when the task's input ends.
type partialAggStage struct {
	spec stageSpec
	// keyField and types are fixed by the first block: the key column and
	// each aggregation's column type (nil for Count).
	keyField *arrow.Field
	types    []arrow.DataType
	seen     bool
	table    *groupTable
	src      string
}

func newPartialAggStage(spec stageSpec) *partialAggStage {
	return &partialAggStage{spec: spec, table: newGroupTable(spec.Aggs), types: make([]arrow.DataType, len(spec.Aggs))}
}

// columns finds the key's and the aggregations' columns in rec, checking
// their types (the same in every block).
func (p *partialAggStage) columns(rec arrow.RecordBatch) (key int, cols []int, err error) {
	name := p.spec.Name
	key = -1
	if p.spec.Key != "" {
		if key, err = keyColumn(rec, p.spec.Key); err != nil {
			return 0, nil, fmt.Errorf("%s: %w", name, err)
		}
		f := rec.Schema().Field(key)
		if p.seen && !arrow.TypeEqual(f.Type, p.keyField.Type) {
			return 0, nil, fmt.Errorf("%s: the key column is %s in one block and %s in another", name, p.keyField.Type, f.Type)
		}
		p.keyField = &f
	}
	cols = make([]int, len(p.spec.Aggs))
	for i, a := range p.spec.Aggs {
		if a.Kind == "count" {
			continue
		}
		c, err := keyColumn(rec, a.On)
		if err != nil {
			return 0, nil, fmt.Errorf("%s: %s: %w", name, a.name(), err)
		}
		t := rec.Schema().Field(c).Type
		if !isNumber(goType(t).Kind()) && a.Kind != "min" && a.Kind != "max" {
			return 0, nil, fmt.Errorf("%s: %s of a %s column", name, a.name(), t)
		}
		if p.seen && !arrow.TypeEqual(t, p.types[i]) {
			return 0, nil, fmt.Errorf("%s: %s: column %s is %s in one block and %s in another", name, a.name(), a.On, p.types[i], t)
		}
		p.types[i], cols[i] = t, c
	}
	p.seen = true
	return key, cols, nil
}

func (p *partialAggStage) push(ctx context.Context, rec arrow.RecordBatch, src string, _ srcEmit) error {
	key, cols, err := p.columns(rec)
	if err != nil {
		return err
	}
	if p.src == "" {
		p.src = src
	}
	t := p.table
	n := int(rec.NumRows())
	which := make([]int, n)
	switch {
	case key < 0:
		if n > 0 || len(t.keys) == 0 {
			t.group(nil) // a global aggregate: one group
		}
	default:
		if ints, ok := rec.Column(key).(*array.Int64); ok && ints.NullN() == 0 {
			// The common key: no boxing per row.
			byKey := map[int64]int{}
			for r, k := range ints.Int64Values() {
				g, ok := byKey[k]
				if !ok {
					g = t.group(k)
					byKey[k] = g
				}
				which[r] = g
			}
			break
		}
		for r := range n {
			which[r] = t.group(valueAt(rec.Column(key), r))
		}
	}
	for i, a := range p.spec.Aggs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if a.Kind == "count" {
			for r := range n {
				t.states[which[r]][i].n++
			}
			continue
		}
		c := rec.Column(cols[i])
		if ints, ok := c.(*array.Int64); ok && (a.Kind == "sum" || a.Kind == "mean") {
			vals := ints.Int64Values()
			for r := range n {
				if ints.IsValid(r) {
					s := &t.states[which[r]][i]
					s.n++
					s.isum += vals[r]
					s.fsum += float64(vals[r])
				}
			}
			continue
		}
		for r := range n {
			t.states[which[r]][i].add(a.Kind, valueAt(c, r))
		}
	}
	return nil
}

// stateSchema is the schema of a partial aggregate's block.
func (p *partialAggStage) stateSchema() *arrow.Schema {
	var fields []arrow.Field
	if p.keyField != nil {
		fields = append(fields, *p.keyField)
	}
	i64, f64 := arrow.PrimitiveTypes.Int64, arrow.PrimitiveTypes.Float64
	for i, a := range p.spec.Aggs {
		fields = append(fields, arrow.Field{Name: stateCol(i, "n"), Type: i64})
		switch a.Kind {
		case "sum", "mean":
			t := i64
			if floatType(p.types[i]) {
				t = f64
			}
			fields = append(fields, arrow.Field{Name: stateCol(i, "sum"), Type: t})
		case "min", "max":
			fields = append(fields, arrow.Field{Name: stateCol(i, "v"), Type: p.types[i], Nullable: true})
		case "std":
			fields = append(fields, arrow.Field{Name: stateCol(i, "mean"), Type: f64}, arrow.Field{Name: stateCol(i, "m2"), Type: f64})
		}
	}
	return arrow.NewSchema(fields, nil)
}

func (p *partialAggStage) flush(_ context.Context, emit srcEmit) error {
	t := p.table
	if len(t.keys) == 0 {
		return nil
	}
	schema := p.stateSchema()
	rows := make([]Row, len(t.keys))
	for g, k := range t.keys {
		r := Row{}
		if p.keyField != nil {
			r[p.keyField.Name] = k
		}
		for i, a := range p.spec.Aggs {
			s := t.states[g][i]
			r[stateCol(i, "n")] = s.n
			switch a.Kind {
			case "sum", "mean":
				r[stateCol(i, "sum")] = s.isum
				if floatType(p.types[i]) {
					r[stateCol(i, "sum")] = s.fsum
				}
			case "min", "max":
				r[stateCol(i, "v")] = s.v
			case "std":
				r[stateCol(i, "mean")], r[stateCol(i, "m2")] = s.mean, s.m2
			}
		}
		rows[g] = r
	}
	out, err := rowsToBatch(rows, schema)
	if err != nil {
		return fmt.Errorf("%s: the partial aggregate: %w", p.spec.Name, err)
	}
	return emit(out, p.src)
}

// combineAggregates combines partial aggregates (blocks a
// partialAggStage made) into the aggregation's rows: a row per group,
// sorted by key, with the key column and a column per aggregation.
func combineAggregates(spec shuffleSpec, parts []arrow.RecordBatch) (arrow.RecordBatch, error) {
	schema := parts[0].Schema()
	t := newGroupTable(spec.Aggs)
	keyed := spec.Key != ""
	for _, part := range parts {
		if !part.Schema().Equal(schema) {
			return nil, fmt.Errorf("%s: partial aggregates of different schemas: %s and %s", spec.Name, schema, part.Schema())
		}
		col := func(name string) arrow.Array {
			if idx := schema.FieldIndices(name); len(idx) > 0 {
				return part.Column(idx[0])
			}
			return nil
		}
		var kc arrow.Array
		if keyed {
			if kc = col(spec.Key); kc == nil {
				return nil, fmt.Errorf("%s: a partial aggregate without the key column", spec.Name)
			}
		}
		type stateCols struct{ n, sum, v, mean, m2 arrow.Array }
		cols := make([]stateCols, len(spec.Aggs))
		for i := range spec.Aggs {
			c := stateCols{n: col(stateCol(i, "n")), sum: col(stateCol(i, "sum")), v: col(stateCol(i, "v")),
				mean: col(stateCol(i, "mean")), m2: col(stateCol(i, "m2"))}
			if c.n == nil || (c.mean == nil) != (c.m2 == nil) {
				return nil, fmt.Errorf("%s: a partial aggregate without the state of %s", spec.Name, spec.Aggs[i].name())
			}
			cols[i] = c
		}
		n := int(part.NumRows())
		for r := range n {
			var g int
			if keyed {
				g = t.group(valueAt(kc, r))
			} else {
				g = t.group(nil)
			}
			for i, a := range spec.Aggs {
				c := cols[i]
				var o aggState
				o.n, _ = valueAt(c.n, r).(int64)
				if c.sum != nil {
					switch v := valueAt(c.sum, r).(type) {
					case int64:
						o.isum = v
					case float64:
						o.fsum = v
					}
				}
				if c.v != nil {
					o.v = valueAt(c.v, r)
				}
				if c.mean != nil {
					o.mean, _ = valueAt(c.mean, r).(float64)
					o.m2, _ = valueAt(c.m2, r).(float64)
				}
				t.states[g][i].merge(a.Kind, o)
			}
		}
	}
	// The output's schema: the key, then each aggregation's column.
	var fields []arrow.Field
	if keyed {
		idx := schema.FieldIndices(spec.Key)
		if len(idx) == 0 {
			return nil, fmt.Errorf("%s: a partial aggregate without the key column", spec.Name)
		}
		f := schema.Field(idx[0])
		f.Nullable = true // as rowsToBatch makes it: an empty output has the schema of the others
		fields = append(fields, f)
	}
	isFloat := make([]bool, len(spec.Aggs))
	for i, a := range spec.Aggs {
		ft := arrow.PrimitiveTypes.Float64
		switch a.Kind {
		case "count":
			ft = arrow.PrimitiveTypes.Int64
		case "sum":
			if idx := schema.FieldIndices(stateCol(i, "sum")); len(idx) > 0 {
				ft = schema.Field(idx[0]).Type
			}
			isFloat[i] = floatType(ft)
		case "mean":
			if idx := schema.FieldIndices(stateCol(i, "sum")); len(idx) > 0 {
				isFloat[i] = floatType(schema.Field(idx[0]).Type)
			}
		case "min", "max":
			if idx := schema.FieldIndices(stateCol(i, "v")); len(idx) > 0 {
				ft = schema.Field(idx[0]).Type
			}
		}
		fields = append(fields, arrow.Field{Name: a.name(), Type: ft, Nullable: true})
	}
	hint := arrow.NewSchema(fields, nil)
	order := make([]int, len(t.keys))
	for g := range order {
		order[g] = g
	}
	slices.SortFunc(order, func(a, b int) int { return compareValues(t.keys[a], t.keys[b]) })
	rows := make([]Row, 0, len(order))
	for _, g := range order {
		r := Row{}
		if keyed {
			r[spec.Key] = t.keys[g]
		}
		for i, a := range spec.Aggs {
			r[a.name()] = t.states[g][i].final(a.Kind, isFloat[i])
		}
		rows = append(rows, r)
	}
	if len(rows) == 0 {
		return emptyBatch(hint), nil
	}
	return rowsToBatch(rows, hint)
}
