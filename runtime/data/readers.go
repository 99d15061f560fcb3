package data

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcsv "github.com/apache/arrow-go/v18/arrow/csv"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet/file"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"
)

// Readers run in read tasks: each turns one file into batches of at most
// rows rows, handing each to emit. Their errors name the file.

// Limits on what one value of outside input may be: past them a file is
// refused with an error rather than exhausting the worker's memory.
const (
	maxLineBytes   = 64 << 20 // a text line, a JSON line, a CSV record
	maxBinaryBytes = 1 << 30  // a file read whole by ReadBinaryFiles
	inferRows      = 1000     // rows read to infer a CSV's or a JSON file's types
)

type emitFunc func(rec arrow.RecordBatch) error

// readFile reads one file in format into batches.
// cols, if any, are the columns wanted: a reader that can skip the others
// (Parquet) does; the caller projects.
func readFile(ctx context.Context, format, path string, rows int, cols []string, emit emitFunc) (err error) {
	defer func() {
		// A reader that panics on a malformed file fails the read of that
		// file; user functions downstream recover their own panics.
		if p := recover(); p != nil {
			err = &ReadError{Path: path, Format: format, Err: fmt.Errorf("malformed file: %v", p)}
		}
	}()
	switch format {
	case "parquet":
		err = readParquet(ctx, path, rows, cols, emit)
	case "csv":
		err = readCSV(path, rows, emit)
	case "json":
		err = readJSONLines(path, rows, emit)
	case "text":
		err = readText(path, rows, emit)
	case "binary":
		err = readBinary(path, emit)
	default:
		err = fmt.Errorf("unknown format %q", format)
	}
	if err != nil {
		var ue *UserFuncError
		if errors.As(err, &ue) || errors.Is(err, context.Canceled) {
			return err
		}
		return &ReadError{Path: path, Format: format, Err: err}
	}
	return nil
}

// ReadError is a file that could not be read.
type ReadError struct {
	Path, Format string
	Err          error
}

func (e *ReadError) Error() string {
	return fmt.Sprintf("read %s file %s: %v", e.Format, e.Path, e.Err)
}
func (e *ReadError) Unwrap() error { return e.Err }

func readParquet(ctx context.Context, path string, rows int, cols []string, emit emitFunc) error {
	pf, err := file.OpenParquetFile(path, false)
	if err != nil {
		return err
	}
	defer pf.Close()
	fr, err := pqarrow.NewFileReader(pf, pqarrow.ArrowReadProperties{BatchSize: int64(rows)}, memory.DefaultAllocator)
	if err != nil {
		return err
	}
	rr, err := fr.GetRecordReader(ctx, parquetColumns(fr, cols), nil)
	if err != nil {
		return err
	}
	defer rr.Release()
	n := 0
	for rr.Next() {
		n++
		if err := emit(rr.RecordBatch()); err != nil {
			return err
		}
	}
	if err := rr.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if n == 0 {
		// A file without rows still has a schema: pass it on.
		return emit(emptyBatch(rr.Schema()))
	}
	return nil
}

// parquetColumns are the leaf column indices of the wanted columns, when
// the file's schema is flat (a leaf per field) and has them all; nil (read
// every column) otherwise, leaving the projection to the caller.
func parquetColumns(fr *pqarrow.FileReader, cols []string) []int {
	if len(cols) == 0 {
		return nil
	}
	schema, err := fr.Schema()
	if err != nil || schema.NumFields() != fr.ParquetReader().MetaData().Schema.NumColumns() {
		return nil
	}
	var idx []int
	for _, c := range cols {
		i := schema.FieldIndices(c)
		if len(i) != 1 {
			return nil
		}
		idx = append(idx, i[0])
	}
	slices.Sort(idx)
	return idx
}

// inferCSVSchema infers the column types of a CSV file from its header and
// first rows: int64 if every value is an integer, float64 if every value
// is a number, bool if every value is true/false, else string. Empty
// values are nulls and do not decide a type.
func inferCSVSchema(r io.Reader) (*arrow.Schema, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("no header line")
		}
		return nil, err
	}
	seen := map[string]bool{}
	for _, h := range header {
		if seen[h] {
			return nil, fmt.Errorf("column %q appears twice in the header", h)
		}
		seen[h] = true
	}
	kinds := make([]int, len(header)) // 0 unknown, 1 int, 2 float, 3 bool, 4 string
	for range inferRows {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		for i, v := range rec {
			if i < len(kinds) {
				kinds[i] = max(kinds[i], csvKind(v, kinds[i]))
			}
		}
	}
	fields := make([]arrow.Field, len(header))
	for i, h := range header {
		t := arrow.DataType(arrow.BinaryTypes.String)
		switch kinds[i] {
		case 1:
			t = arrow.PrimitiveTypes.Int64
		case 2:
			t = arrow.PrimitiveTypes.Float64
		case 3:
			t = arrow.FixedWidthTypes.Boolean
		}
		fields[i] = arrow.Field{Name: h, Type: t, Nullable: true}
	}
	return arrow.NewSchema(fields, nil), nil
}

// csvKind is the narrowest kind (as in inferCSVSchema) that holds v given
// the column's kind so far.
func csvKind(v string, sofar int) int {
	if v == "" {
		return sofar
	}
	if sofar == 3 || sofar == 4 {
		if sofar == 3 && (v == "true" || v == "false") {
			return 3
		}
		return 4
	}
	if sofar <= 1 {
		if _, err := strconv.ParseInt(v, 10, 64); err == nil {
			return 1
		}
	}
	if _, err := strconv.ParseFloat(v, 64); err == nil {
		return 2
	}
	if sofar == 0 && (v == "true" || v == "false") {
		return 3
	}
	return 4
}

func readCSV(path string, rows int, emit emitFunc) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	schema, err := inferCSVSchema(io.LimitReader(f, maxLineBytes*2))
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := arrowcsv.NewReader(bufio.NewReader(f), schema, arrowcsv.WithHeader(true), arrowcsv.WithChunk(rows),
		arrowcsv.WithNullReader(true, ""))
	defer r.Release()
	n := 0
	var row int64
	for r.Next() {
		n++
		rec := r.RecordBatch()
		if err := checkUTF8(rec, row); err != nil {
			return err
		}
		row += rec.NumRows()
		if err := emit(rec); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return err
	}
	if n == 0 {
		return emit(emptyBatch(schema))
	}
	return nil
}

// inferJSONType is the Arrow type of a decoded JSON value; nil for null.
func inferJSONType(v any) arrow.DataType {
	switch x := v.(type) {
	case bool:
		return arrow.FixedWidthTypes.Boolean
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return arrow.PrimitiveTypes.Int64
		}
		return arrow.PrimitiveTypes.Float64
	case string:
		return arrow.BinaryTypes.String
	case []any:
		et := arrow.Null
		for _, e := range x {
			et = mergeJSONTypes(et, inferJSONType(e))
		}
		return arrow.ListOf(et)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		fields := make([]arrow.Field, 0, len(keys))
		for _, k := range keys {
			t := inferJSONType(x[k])
			if t == nil {
				t = arrow.Null
			}
			fields = append(fields, arrow.Field{Name: k, Type: t, Nullable: true})
		}
		return arrow.StructOf(fields...)
	}
	return nil
}

// mergeJSONTypes is a type holding values of both a and b: int64 widens to
// float64, lists merge their elements, structs their fields; anything else
// that differs is a string (JSON text).
func mergeJSONTypes(a, b arrow.DataType) arrow.DataType {
	switch {
	case a == nil || a.ID() == arrow.NULL:
		if b == nil {
			return a
		}
		return b
	case b == nil || b.ID() == arrow.NULL:
		return a
	case arrow.TypeEqual(a, b):
		return a
	case isNumeric(a) && isNumeric(b):
		return arrow.PrimitiveTypes.Float64
	case a.ID() == arrow.LIST && b.ID() == arrow.LIST:
		return arrow.ListOf(mergeJSONTypes(a.(*arrow.ListType).Elem(), b.(*arrow.ListType).Elem()))
	case a.ID() == arrow.STRUCT && b.ID() == arrow.STRUCT:
		return mergeStructs(a.(*arrow.StructType), b.(*arrow.StructType))
	}
	return arrow.BinaryTypes.String
}

func isNumeric(t arrow.DataType) bool { return t.ID() == arrow.INT64 || t.ID() == arrow.FLOAT64 }

func mergeStructs(a, b *arrow.StructType) arrow.DataType {
	types := map[string]arrow.DataType{}
	var names []string
	for _, s := range []*arrow.StructType{a, b} {
		for _, f := range s.Fields() {
			if _, ok := types[f.Name]; !ok {
				names = append(names, f.Name)
			}
			types[f.Name] = mergeJSONTypes(types[f.Name], f.Type)
		}
	}
	sort.Strings(names)
	fields := make([]arrow.Field, len(names))
	for i, n := range names {
		fields[i] = arrow.Field{Name: n, Type: types[n], Nullable: true}
	}
	return arrow.StructOf(fields...)
}

// inferJSONSchema infers a JSON lines file's schema from its first lines:
// the union of their keys, each with a type holding all its values. A
// line that is not a JSON object is an error naming its number.
func inferJSONSchema(r io.Reader) (*arrow.Schema, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	var obj *arrow.StructType
	for line := 1; line <= inferRows && sc.Scan(); line++ {
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		var v map[string]any
		if err := d.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d is not a JSON object: %w", line, err)
		}
		t, ok := inferJSONType(v).(*arrow.StructType)
		if !ok {
			return nil, fmt.Errorf("line %d is not a JSON object", line)
		}
		if obj == nil {
			obj = t
		} else {
			obj = mergeStructs(obj, t).(*arrow.StructType)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("a line is longer than %d bytes", maxLineBytes)
		}
		return nil, err
	}
	if obj == nil {
		return arrow.NewSchema(nil, nil), nil
	}
	return arrow.NewSchema(settleNulls(obj).(*arrow.StructType).Fields(), nil), nil
}

// settleNulls gives the columns (or list elements) that were null in every
// line inferred a type: string.
func settleNulls(t arrow.DataType) arrow.DataType {
	switch x := t.(type) {
	case *arrow.NullType:
		return arrow.BinaryTypes.String
	case *arrow.ListType:
		return arrow.ListOf(settleNulls(x.Elem()))
	case *arrow.StructType:
		fields := slices.Clone(x.Fields())
		for i := range fields {
			fields[i].Type = settleNulls(fields[i].Type)
		}
		return arrow.StructOf(fields...)
	}
	return t
}

func readJSONLines(path string, rows int, emit emitFunc) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	schema, err := inferJSONSchema(f)
	if err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	r := array.NewJSONReader(bufio.NewReader(f), schema, array.WithChunk(rows))
	defer r.Release()
	n := 0
	for r.Next() {
		n++
		if err := emit(r.RecordBatch()); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if n == 0 {
		return emit(emptyBatch(schema))
	}
	return nil
}

// checkUTF8 checks that the string columns of a batch read from a file
// hold UTF-8 (Arrow's string type requires it; the CSV reader does not
// check); first is the batch's first row in the file.
func checkUTF8(rec arrow.RecordBatch, first int64) error {
	for c, col := range rec.Columns() {
		s, ok := col.(*array.String)
		if !ok {
			continue
		}
		for i := range s.Len() {
			if s.IsValid(i) && !utf8.ValidString(s.Value(i)) {
				return fmt.Errorf("row %d, column %q: not valid UTF-8", first+int64(i)+1, rec.ColumnName(c))
			}
		}
	}
	return nil
}

var textSchema = arrow.NewSchema([]arrow.Field{{Name: "text", Type: arrow.BinaryTypes.String}}, nil)

// readText reads a file's lines (without their line ends) as column
// "text", Ray's read_text.
func readText(path string, rows int, emit emitFunc) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), maxLineBytes)
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	flush := func() error {
		arr := b.NewArray()
		return emit(array.NewRecordBatch(textSchema, []arrow.Array{arr}, int64(arr.Len())))
	}
	n, emitted, line := 0, false, 0
	for sc.Scan() {
		if line++; !utf8.Valid(sc.Bytes()) {
			return fmt.Errorf("line %d is not valid UTF-8 (read binary files for other text)", line)
		}
		b.Append(sc.Text())
		if n++; n == rows {
			if err := flush(); err != nil {
				return err
			}
			n, emitted = 0, true
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("a line is longer than %d bytes", maxLineBytes)
		}
		return err
	}
	if n > 0 || !emitted {
		return flush()
	}
	return nil
}

var binarySchema = arrow.NewSchema([]arrow.Field{{Name: "bytes", Type: arrow.BinaryTypes.Binary}}, nil)

// readBinary reads a whole file as one row, column "bytes".
func readBinary(path string, emit emitFunc) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() > maxBinaryBytes {
		return fmt.Errorf("the file has %d bytes, more than the %d a binary row may have", st.Size(), maxBinaryBytes)
	}
	body, err := io.ReadAll(io.LimitReader(f, maxBinaryBytes+1))
	if err != nil {
		return err
	}
	b := array.NewBinaryBuilder(memory.DefaultAllocator, arrow.BinaryTypes.Binary)
	defer b.Release()
	b.Append(body)
	return emit(array.NewRecordBatch(binarySchema, []arrow.Array{b.NewArray()}, 1))
}
