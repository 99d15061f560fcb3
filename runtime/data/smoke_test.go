package data

import (
	"context"
	"testing"
)

var double = MapFn("test.double", func(ctx context.Context, r Row) (Row, error) {
	return Row{"id": r["id"], "x": r["id"].(int64) * 2}, nil
})

func TestSmoke(t *testing.T) {
	ctx := testCtx(t)
	ds := Range(100).Map(double)
	rows, err := ds.TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 100 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r["id"].(int64) != int64(i) || r["x"].(int64) != int64(2*i) {
			t.Fatalf("row %d: %v", i, r)
		}
	}
	t.Log(ds.Stats())
}
