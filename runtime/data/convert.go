package data

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// Row is one row of a dataset as a map from column name to value, Ray
// Data's dict rows. Values have the Go type of their column: int64, int32
// (and the other sized integers), float64, float32, string, bool, []byte,
// time.Time for timestamps, a typed slice ([]float64, []string, ...) for a
// list column, nil for a null. A user function may also take and return a
// struct: see the package documentation for how fields map to columns.
type Row = map[string]any

// Columns is a batch in the "columns" format, Ray's numpy batch format: a
// typed slice per column ([]int64, []float64, []string, [][]byte, ...),
// all of the same length. A null becomes its type's zero value.
type Columns = map[string]any

// goType is the Go type a value of an Arrow type becomes in a Row.
func goType(t arrow.DataType) reflect.Type {
	switch t.ID() {
	case arrow.BOOL:
		return reflect.TypeFor[bool]()
	case arrow.INT8:
		return reflect.TypeFor[int8]()
	case arrow.INT16:
		return reflect.TypeFor[int16]()
	case arrow.INT32:
		return reflect.TypeFor[int32]()
	case arrow.INT64:
		return reflect.TypeFor[int64]()
	case arrow.UINT8:
		return reflect.TypeFor[uint8]()
	case arrow.UINT16:
		return reflect.TypeFor[uint16]()
	case arrow.UINT32:
		return reflect.TypeFor[uint32]()
	case arrow.UINT64:
		return reflect.TypeFor[uint64]()
	case arrow.FLOAT32:
		return reflect.TypeFor[float32]()
	case arrow.FLOAT64:
		return reflect.TypeFor[float64]()
	case arrow.STRING, arrow.LARGE_STRING, arrow.STRING_VIEW:
		return reflect.TypeFor[string]()
	case arrow.BINARY, arrow.LARGE_BINARY, arrow.BINARY_VIEW, arrow.FIXED_SIZE_BINARY:
		return reflect.TypeFor[[]byte]()
	case arrow.TIMESTAMP, arrow.DATE32, arrow.DATE64:
		return reflect.TypeFor[time.Time]()
	case arrow.LIST, arrow.LARGE_LIST, arrow.FIXED_SIZE_LIST:
		return reflect.SliceOf(goType(t.(arrow.ListLikeType).Elem()))
	}
	// Other types (decimals, structs, maps, ...) are shown as their text.
	return reflect.TypeFor[string]()
}

// arrowType is the Arrow type of a column holding Go values of type t.
func arrowType(t reflect.Type) (arrow.DataType, error) {
	if t == reflect.TypeFor[time.Time]() {
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		return arrow.FixedWidthTypes.Boolean, nil
	case reflect.Int, reflect.Int64:
		return arrow.PrimitiveTypes.Int64, nil
	case reflect.Int32:
		return arrow.PrimitiveTypes.Int32, nil
	case reflect.Int16:
		return arrow.PrimitiveTypes.Int16, nil
	case reflect.Int8:
		return arrow.PrimitiveTypes.Int8, nil
	case reflect.Uint, reflect.Uint64:
		return arrow.PrimitiveTypes.Uint64, nil
	case reflect.Uint32:
		return arrow.PrimitiveTypes.Uint32, nil
	case reflect.Uint16:
		return arrow.PrimitiveTypes.Uint16, nil
	case reflect.Uint8:
		return arrow.PrimitiveTypes.Uint8, nil
	case reflect.Float64:
		return arrow.PrimitiveTypes.Float64, nil
	case reflect.Float32:
		return arrow.PrimitiveTypes.Float32, nil
	case reflect.String:
		return arrow.BinaryTypes.String, nil
	case reflect.Pointer:
		return arrowType(t.Elem())
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return arrow.BinaryTypes.Binary, nil
		}
		et, err := arrowType(t.Elem())
		if err != nil {
			return nil, err
		}
		return arrow.ListOf(et), nil
	}
	return nil, fmt.Errorf("no Arrow column type for Go type %s", t)
}

// valueAt is element i of arr as a Row value.
func valueAt(arr arrow.Array, i int) any {
	if arr.IsNull(i) {
		return nil
	}
	switch a := arr.(type) {
	case *array.Boolean:
		return a.Value(i)
	case *array.Int8:
		return a.Value(i)
	case *array.Int16:
		return a.Value(i)
	case *array.Int32:
		return a.Value(i)
	case *array.Int64:
		return a.Value(i)
	case *array.Uint8:
		return a.Value(i)
	case *array.Uint16:
		return a.Value(i)
	case *array.Uint32:
		return a.Value(i)
	case *array.Uint64:
		return a.Value(i)
	case *array.Float32:
		return a.Value(i)
	case *array.Float64:
		return a.Value(i)
	case *array.String:
		return a.Value(i)
	case *array.LargeString:
		return a.Value(i)
	case *array.StringView:
		return a.Value(i)
	case *array.Binary:
		return slices.Clone(a.Value(i))
	case *array.LargeBinary:
		return slices.Clone(a.Value(i))
	case *array.BinaryView:
		return slices.Clone(a.Value(i))
	case *array.FixedSizeBinary:
		return slices.Clone(a.Value(i))
	case *array.Timestamp:
		unit := a.DataType().(*arrow.TimestampType).Unit
		return a.Value(i).ToTime(unit).UTC()
	case *array.Date32:
		return a.Value(i).ToTime().UTC()
	case *array.Date64:
		return a.Value(i).ToTime().UTC()
	case array.ListLike:
		start, end := a.ValueOffsets(i)
		child := a.ListValues()
		et := goType(child.DataType())
		out := reflect.MakeSlice(reflect.SliceOf(et), 0, int(end-start))
		for j := start; j < end; j++ {
			v := valueAt(child, int(j))
			if v == nil {
				out = reflect.Append(out, reflect.Zero(et))
				continue
			}
			out = reflect.Append(out, reflect.ValueOf(v))
		}
		return out.Interface()
	}
	return arr.ValueStr(i)
}

// appendValue appends a Go value to a builder of the column's type,
// converting between numeric kinds (an int into a float column).
func appendValue(b array.Builder, v reflect.Value) error {
	for v.IsValid() && (v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer) {
		if v.IsNil() {
			b.AppendNull()
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() || v.Kind() == reflect.Slice && v.IsNil() {
		// A nil slice is a null, as in JSON; an empty one an empty list.
		b.AppendNull()
		return nil
	}
	mismatch := func() error {
		return fmt.Errorf("a %s value in a %s column", v.Type(), b.Type())
	}
	switch bb := b.(type) {
	case *array.BooleanBuilder:
		if v.Kind() != reflect.Bool {
			return mismatch()
		}
		bb.Append(v.Bool())
	case *array.Int8Builder, *array.Int16Builder, *array.Int32Builder, *array.Int64Builder:
		var x int64
		switch {
		case v.CanInt():
			x = v.Int()
		case v.CanUint():
			x = int64(v.Uint())
		default:
			return mismatch()
		}
		switch bb := b.(type) {
		case *array.Int8Builder:
			bb.Append(int8(x))
		case *array.Int16Builder:
			bb.Append(int16(x))
		case *array.Int32Builder:
			bb.Append(int32(x))
		case *array.Int64Builder:
			bb.Append(x)
		}
	case *array.Uint8Builder, *array.Uint16Builder, *array.Uint32Builder, *array.Uint64Builder:
		var x uint64
		switch {
		case v.CanUint():
			x = v.Uint()
		case v.CanInt():
			x = uint64(v.Int())
		default:
			return mismatch()
		}
		switch bb := b.(type) {
		case *array.Uint8Builder:
			bb.Append(uint8(x))
		case *array.Uint16Builder:
			bb.Append(uint16(x))
		case *array.Uint32Builder:
			bb.Append(uint32(x))
		case *array.Uint64Builder:
			bb.Append(x)
		}
	case *array.Float32Builder, *array.Float64Builder:
		var x float64
		switch {
		case v.CanFloat():
			x = v.Float()
		case v.CanInt():
			x = float64(v.Int())
		case v.CanUint():
			x = float64(v.Uint())
		default:
			return mismatch()
		}
		if f, ok := b.(*array.Float32Builder); ok {
			f.Append(float32(x))
		} else {
			b.(*array.Float64Builder).Append(x)
		}
	case *array.StringBuilder:
		if v.Kind() != reflect.String {
			return mismatch()
		}
		bb.Append(v.String())
	case *array.BinaryBuilder:
		switch {
		case v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8:
			bb.Append(v.Bytes())
		case v.Kind() == reflect.String:
			bb.AppendString(v.String())
		default:
			return mismatch()
		}
	case *array.TimestampBuilder:
		t, ok := v.Interface().(time.Time)
		if !ok {
			return mismatch()
		}
		bb.AppendTime(t)
	case *array.ListBuilder:
		if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
			return mismatch()
		}
		bb.Append(true)
		vb := bb.ValueBuilder()
		for j := range v.Len() {
			if err := appendValue(vb, v.Index(j)); err != nil {
				return err
			}
		}
	default:
		if v.Kind() != reflect.String {
			return mismatch()
		}
		if err := b.AppendValueFromString(v.String()); err != nil {
			return err
		}
	}
	return nil
}

// rowsToBatch builds a batch from rows. Columns keep hint's order (the
// schema of the rows' source), with new columns after them in name order;
// a column's type is hint's when the column is there, else the type of
// its first non-nil value.
func rowsToBatch(rows []Row, hint *arrow.Schema) (arrow.RecordBatch, error) {
	seen := map[string]bool{}
	var names []string
	for _, r := range rows {
		for k := range r {
			if !seen[k] {
				seen[k] = true
				names = append(names, k)
			}
		}
	}
	names = orderColumns(names, hint)
	fields := make([]arrow.Field, len(names))
	for i, name := range names {
		var t arrow.DataType
		if hint != nil {
			if idx := hint.FieldIndices(name); len(idx) == 1 {
				t = hint.Field(idx[0]).Type
			}
		}
		if t == nil {
			for _, r := range rows {
				if v, ok := r[name]; ok && v != nil {
					var err error
					if t, err = arrowType(reflect.TypeOf(v)); err != nil {
						return nil, fmt.Errorf("column %q: %w", name, err)
					}
					break
				}
			}
		}
		if t == nil {
			t = arrow.Null
		}
		fields[i] = arrow.Field{Name: name, Type: t, Nullable: true}
	}
	schema := arrow.NewSchema(fields, nil)
	b := array.NewRecordBuilder(memory.DefaultAllocator, schema)
	defer b.Release()
	for ri, r := range rows {
		for i, name := range names {
			if err := appendValue(b.Field(i), reflect.ValueOf(r[name])); err != nil {
				return nil, fmt.Errorf("row %d, column %q: %w", ri, name, err)
			}
		}
	}
	return b.NewRecordBatch(), nil
}

// orderColumns puts names in hint's order, then the others sorted.
func orderColumns(names []string, hint *arrow.Schema) []string {
	pos := func(n string) int {
		if hint != nil {
			if idx := hint.FieldIndices(n); len(idx) == 1 {
				return idx[0]
			}
		}
		return -1
	}
	sort.SliceStable(names, func(i, j int) bool {
		pi, pj := pos(names[i]), pos(names[j])
		switch {
		case pi >= 0 && pj >= 0:
			return pi < pj
		case pi >= 0:
			return true
		case pj >= 0:
			return false
		}
		return names[i] < names[j]
	})
	return names
}

// batchToRows is every row of a batch.
func batchToRows(rec arrow.RecordBatch) []Row {
	n := int(rec.NumRows())
	rows := make([]Row, n)
	for i := range rows {
		rows[i] = make(Row, rec.NumCols())
	}
	for c, col := range rec.Columns() {
		name := rec.ColumnName(c)
		for i := range n {
			rows[i][name] = valueAt(col, i)
		}
	}
	return rows
}

// batchToColumns is a batch in the columns format.
func batchToColumns(rec arrow.RecordBatch) Columns {
	out := make(Columns, rec.NumCols())
	n := int(rec.NumRows())
	for c, col := range rec.Columns() {
		name := rec.ColumnName(c)
		if col.NullN() == 0 {
			switch a := col.(type) {
			case *array.Int64:
				out[name] = slices.Clone(a.Int64Values())
				continue
			case *array.Float64:
				out[name] = slices.Clone(a.Float64Values())
				continue
			case *array.Int32:
				out[name] = slices.Clone(a.Int32Values())
				continue
			case *array.Float32:
				out[name] = slices.Clone(a.Float32Values())
				continue
			}
		}
		et := goType(col.DataType())
		s := reflect.MakeSlice(reflect.SliceOf(et), n, n)
		for i := range n {
			if v := valueAt(col, i); v != nil {
				s.Index(i).Set(reflect.ValueOf(v))
			}
		}
		out[name] = s.Interface()
	}
	return out
}

// columnsToBatch builds a batch from the columns format, in hint's column
// order, then new columns by name.
func columnsToBatch(cols Columns, hint *arrow.Schema) (arrow.RecordBatch, error) {
	names := make([]string, 0, len(cols))
	for k := range cols {
		names = append(names, k)
	}
	names = orderColumns(names, hint)
	fields := make([]arrow.Field, len(names))
	arrs := make([]arrow.Array, len(names))
	rows := -1
	for i, name := range names {
		v := reflect.ValueOf(cols[name])
		if v.Kind() != reflect.Slice {
			return nil, fmt.Errorf("column %q is a %T, not a slice", name, cols[name])
		}
		if rows >= 0 && v.Len() != rows {
			return nil, fmt.Errorf("column %q has %d values, column %q %d", name, v.Len(), names[0], rows)
		}
		rows = v.Len()
		var t arrow.DataType
		if hint != nil {
			if idx := hint.FieldIndices(name); len(idx) == 1 && goType(hint.Field(idx[0]).Type) == v.Type().Elem() {
				t = hint.Field(idx[0]).Type
			}
		}
		if t == nil {
			var err error
			if t, err = arrowType(v.Type().Elem()); err != nil {
				return nil, fmt.Errorf("column %q: %w", name, err)
			}
		}
		arr, err := sliceToArray(v, t)
		if err != nil {
			return nil, fmt.Errorf("column %q: %w", name, err)
		}
		fields[i] = arrow.Field{Name: name, Type: t, Nullable: true}
		arrs[i] = arr
	}
	if rows < 0 {
		rows = 0
	}
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), arrs, int64(rows)), nil
}

// sliceToArray builds an array of type t from a Go slice.
func sliceToArray(v reflect.Value, t arrow.DataType) (arrow.Array, error) {
	b := array.NewBuilder(memory.DefaultAllocator, t)
	defer b.Release()
	switch bb := b.(type) {
	case *array.Int64Builder:
		if s, ok := v.Interface().([]int64); ok {
			bb.AppendValues(s, nil)
			return b.NewArray(), nil
		}
	case *array.Float64Builder:
		if s, ok := v.Interface().([]float64); ok {
			bb.AppendValues(s, nil)
			return b.NewArray(), nil
		}
	}
	b.Reserve(v.Len())
	for i := range v.Len() {
		if err := appendValue(b, v.Index(i)); err != nil {
			return nil, fmt.Errorf("value %d: %w", i, err)
		}
	}
	return b.NewArray(), nil
}

// Struct rows: a struct's exported fields are columns, named by their
// `data:"name"` tag, else their `json:"name"` tag, else the field's name;
// `data:"-"` skips a field. Reading a column into a struct matches names
// exactly first, then without regard to case.

type structField struct {
	name  string
	index []int
}

var structFields sync.Map // reflect.Type → []structField

func fieldsOf(t reflect.Type) []structField {
	if f, ok := structFields.Load(t); ok {
		return f.([]structField)
	}
	var out []structField
	for _, f := range reflect.VisibleFields(t) {
		if !f.IsExported() || f.Anonymous {
			continue
		}
		name := f.Name
		if tag, ok := f.Tag.Lookup("data"); ok {
			if tag == "-" {
				continue
			}
			name = tag
		} else if tag, ok := f.Tag.Lookup("json"); ok {
			if n, _, _ := strings.Cut(tag, ","); n == "-" {
				continue
			} else if n != "" {
				name = n
			}
		}
		out = append(out, structField{name: name, index: f.Index})
	}
	structFields.Store(t, out)
	return out
}

// toRow turns a row value (a Row or a struct) into a Row.
func toRow[T any](v T) (Row, error) {
	if r, ok := any(v).(Row); ok {
		return r, nil
	}
	rv := reflect.ValueOf(v)
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil, fmt.Errorf("a nil %T is not a row", v)
		}
		rv = rv.Elem()
	}
	if rv.Kind() != reflect.Struct {
		return nil, fmt.Errorf("a %T is not a row: use data.Row or a struct", v)
	}
	fs := fieldsOf(rv.Type())
	r := make(Row, len(fs))
	for _, f := range fs {
		r[f.name] = rv.FieldByIndex(f.index).Interface()
	}
	return r, nil
}

// fromRow fills a row value (a Row or a struct) from a Row.
func fromRow[T any](r Row) (T, error) {
	var out T
	if _, ok := any(out).(Row); ok {
		return any(r).(T), nil
	}
	rv := reflect.ValueOf(&out).Elem()
	if rv.Kind() != reflect.Struct {
		return out, fmt.Errorf("a %T is not a row: use data.Row or a struct", out)
	}
	for _, f := range fieldsOf(rv.Type()) {
		v, ok := r[f.name]
		if !ok {
			for k, x := range r {
				if strings.EqualFold(k, f.name) {
					v, ok = x, true
					break
				}
			}
		}
		if !ok || v == nil {
			continue
		}
		if err := assign(rv.FieldByIndex(f.index), reflect.ValueOf(v)); err != nil {
			return out, fmt.Errorf("field %s: %w", f.name, err)
		}
	}
	return out, nil
}

// assign sets dst from src, converting numeric kinds and element types of
// slices.
func assign(dst, src reflect.Value) error {
	if dst.Kind() == reflect.Pointer {
		p := reflect.New(dst.Type().Elem())
		if err := assign(p.Elem(), src); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	}
	switch {
	case src.Type().AssignableTo(dst.Type()):
		dst.Set(src)
	case src.Kind() == reflect.Slice && dst.Kind() == reflect.Slice && src.Type().Elem().Kind() != reflect.Uint8:
		s := reflect.MakeSlice(dst.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			if err := assign(s.Index(i), src.Index(i)); err != nil {
				return err
			}
		}
		dst.Set(s)
	case isNumber(src.Kind()) && isNumber(dst.Kind()):
		dst.Set(src.Convert(dst.Type()))
	case src.Type().ConvertibleTo(dst.Type()) && src.Kind() == dst.Kind():
		dst.Set(src.Convert(dst.Type()))
	default:
		return fmt.Errorf("cannot set a %s from a %s", dst.Type(), src.Type())
	}
	return nil
}

func isNumber(k reflect.Kind) bool {
	return (k >= reflect.Int && k <= reflect.Uint64) || k == reflect.Float32 || k == reflect.Float64
}

// structSchema is the schema of a struct type's rows (nil if t is not a
// struct, or has a field of no column type).
func structSchema(t reflect.Type) *arrow.Schema {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	var fields []arrow.Field
	for _, f := range fieldsOf(t) {
		at, err := arrowType(t.FieldByIndex(f.index).Type)
		if err != nil {
			return nil
		}
		fields = append(fields, arrow.Field{Name: f.name, Type: at, Nullable: true})
	}
	return arrow.NewSchema(fields, nil)
}
