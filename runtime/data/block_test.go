package data

import (
	"testing"
)

// A task encodes its blocks in one buffer: a block that fits is written in
// the buffer's memory, a bigger one grows it, and either decodes to the
// rows it was made from, whatever the buffer held before.
func TestEncodeBlockIntoReusesItsBuffer(t *testing.T) {
	small, err := rowsToBatch([]Row{{"a": int64(1), "b": "x"}, {"a": int64(2), "b": nil}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rows []Row
	for i := range 1000 {
		rows = append(rows, Row{"a": int64(i), "b": "some text"})
	}
	big, err := rowsToBatch(rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	buf, err := encodeBlockInto(nil, big)
	if err != nil {
		t.Fatal(err)
	}
	b, err := encodeBlockInto(buf, small)
	if err != nil {
		t.Fatal(err)
	}
	if &b[0] != &buf[0] {
		t.Fatal("a block that fits its buffer was written elsewhere")
	}
	if rec, err := decodeBlock(b); err != nil || rec.NumRows() != 2 {
		t.Fatalf("the small block decoded as %v, %v; want its 2 rows", rec, err)
	}
	again, err := encodeBlockInto(b[:0:len(b)], big) // too small for the big block: grows
	if err != nil {
		t.Fatal(err)
	}
	rec, err := decodeBlock(again)
	if err != nil {
		t.Fatal(err)
	}
	got := batchToRows(rec)
	if len(got) != 1000 || got[999]["a"] != int64(999) || got[999]["b"] != "some text" {
		t.Fatalf("the big block decoded as %d rows, row 999 %v", len(got), got[len(got)-1])
	}
}
