package data

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// FuzzDecodeBlock: a block's bytes come from another process; corrupt ones
// are an error, never a panic, and a block that decodes encodes to a block
// that decodes to the same rows.
func FuzzDecodeBlock(f *testing.F) {
	for _, rows := range [][]Row{
		{{"a": int64(1), "b": "x"}, {"a": int64(2), "b": nil}},
		{{"v": []float64{1, 2}, "t": true, "bin": []byte{0, 1}}},
	} {
		rec, err := rowsToBatch(rows, nil)
		if err != nil {
			f.Fatal(err)
		}
		b, err := encodeBlock(rec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:len(b)/2])
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := decodeBlock(b)
		if err != nil {
			return
		}
		if err := validate(rec); err != nil {
			return // decoded but inconsistent: never handed to user code as rows
		}
		again, err := encodeBlock(rec)
		if err != nil {
			t.Fatalf("a decoded block does not encode: %v", err)
		}
		rec2, err := decodeBlock(again)
		if err != nil {
			t.Fatalf("a re-encoded block does not decode: %v", err)
		}
		if !array.RecordEqual(rec, rec2) {
			t.Fatalf("the block changed through encode/decode")
		}
	})
}

// validate checks a batch's arrays fully (offsets, lengths).
func validate(rec arrow.RecordBatch) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = errPanic
		}
	}()
	for _, c := range rec.Columns() {
		if v, ok := c.(interface{ ValidateFull() error }); ok {
			if err := v.ValidateFull(); err != nil {
				return err
			}
		}
		if c.Len() != int(rec.NumRows()) {
			return errPanic
		}
	}
	_ = batchToRows(rec)
	return nil
}

var errPanic = os.ErrInvalid

// FuzzReadJSONLines: any file is read or refused with an error naming it;
// what is read has the inferred schema's columns.
func FuzzReadJSONLines(f *testing.F) {
	for _, s := range []string{
		"{\"a\": 1, \"b\": [1, 2.5], \"c\": {\"d\": \"x\"}}\n{\"a\": null, \"b\": []}\n",
		"{\"a\": 1}\n{\"a\": \"s\"}\n",
		"[1]\n", "{\"a\": 1e400}\n", "\n\n", "{\"a\":{\"b\":{\"c\":[[[]]]}}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRead(t, "json", b)
	})
}

// FuzzReadCSV: as FuzzReadJSONLines, for CSV with inferred types.
func FuzzReadCSV(f *testing.F) {
	for _, s := range []string{
		"a,b,c\n1,2.5,x\n,true,\"q,\"\"w\"\n", "a\n", "", "a,a\n1,2\n", "a,b\n1\n", "x\n1\n1.5\nz\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fuzzRead(t, "csv", b)
	})
}

// FuzzReadText: every line comes back, in order.
func FuzzReadText(f *testing.F) {
	for _, s := range []string{"a\nb\n", "", "\n", "no newline", "a\r\nb"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rows, ok := fuzzRead(t, "text", b)
		if !ok {
			if utf8.Valid(b) {
				t.Fatalf("valid UTF-8 text %q was refused", b)
			}
			return
		}
		var lines []string
		for _, r := range rows {
			lines = append(lines, r["text"].(string))
		}
		got := strings.Join(lines, "\n")
		want := strings.TrimSuffix(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
		if len(b) > 0 && !strings.Contains(string(b), "\r") && got != want {
			t.Fatalf("lines %q of %q", lines, b)
		}
	})
}

// fuzzRead reads b as a file of format; ok is false when the read failed
// (with an error naming the file).
func fuzzRead(t *testing.T, format string, b []byte) (rows []Row, ok bool) {
	path := filepath.Join(t.TempDir(), "in")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var schema *arrow.Schema
	err := readFile(context.Background(), format, path, 3, nil, func(rec arrow.RecordBatch) error {
		if schema == nil {
			schema = rec.Schema()
		} else if !schema.Equal(rec.Schema()) {
			t.Fatalf("blocks of one file with schemas %s and %s", schema, rec.Schema())
		}
		if err := validate(rec); err != nil {
			t.Fatalf("an invalid block: %v", err)
		}
		rows = append(rows, batchToRows(rec)...)
		return nil
	})
	if err != nil {
		if !strings.Contains(err.Error(), path) {
			t.Fatalf("error %q does not name the file", err)
		}
		return nil, false
	}
	if schema == nil {
		t.Fatalf("a read of %q gave no block, not even an empty one", b)
	}
	for _, r := range rows {
		if len(r) != schema.NumFields() {
			t.Fatalf("row %v of schema %s", r, schema)
		}
	}
	return rows, true
}
