package data

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// Random batches from a few sources go through an outBuffer as a task's
// output does: every block is within the target unless it is one batch,
// holds one source and one schema, and the blocks, in order, are the
// batches in order; a block of several batches decodes to them as they
// were (decodeBatches) and joined (decodeBlock).
func TestOutBufferGathersBatchesIntoBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 50 {
		target := int64(64 + rng.IntN(4096))
		o := &outBuffer{target: target}
		var batches []arrow.RecordBatch
		var blocks [][]arrow.RecordBatch
		var srcs []string
		take := func() {
			recs, src := o.take()
			if len(recs) > 0 {
				blocks, srcs = append(blocks, recs), append(srcs, src)
			}
		}
		for i := range 40 {
			src := []string{"a", "b"}[min(1, i/(10+round%20))]
			var rows []Row
			for j := range rng.IntN(60) {
				if i%7 == 6 {
					rows = append(rows, Row{"s": "x"}) // another schema
				} else {
					rows = append(rows, Row{"n": int64(i*100 + j)})
				}
			}
			if len(rows) == 0 {
				continue
			}
			rec, err := rowsToBatch(rows, nil)
			if err != nil {
				t.Fatal(err)
			}
			batches = append(batches, rec)
			if !o.joins(rec, src) {
				take()
			}
			o.add(rec, src)
			if o.full() {
				take()
			}
		}
		take()

		var flat []arrow.RecordBatch
		for k, recs := range blocks {
			var bytes int64
			for _, r := range recs {
				bytes += batchBytes(r)
				if !r.Schema().Equal(recs[0].Schema()) {
					t.Fatalf("round %d: block %d mixes schemas", round, k)
				}
			}
			if len(recs) > 1 && bytes > target {
				t.Fatalf("round %d: block %d of %d batches has %d bytes, over the target %d", round, k, len(recs), bytes, target)
			}
			flat = append(flat, recs...)

			enc, err := encodeBatchesInto(nil, recs)
			if err != nil {
				t.Fatal(err)
			}
			dec, _, err := decodeBatches(enc)
			if err != nil {
				t.Fatal(err)
			}
			var want []Row
			for j := range recs {
				if got := batchToRows(dec[j]); !reflect.DeepEqual(got, batchToRows(recs[j])) {
					t.Fatalf("round %d: block %d batch %d decoded as %v", round, k, j, got)
				}
				want = append(want, batchToRows(recs[j])...)
			}
			joined, err := decodeBlock(enc)
			if err != nil {
				t.Fatal(err)
			}
			if got := batchToRows(joined); !reflect.DeepEqual(got, want) {
				t.Fatalf("round %d: block %d joined as %d rows, want %d", round, k, len(got), len(want))
			}
		}
		if len(flat) != len(batches) {
			t.Fatalf("round %d: %d batches in blocks, %d made", round, len(flat), len(batches))
		}
		for i := range flat {
			if flat[i] != batches[i] {
				t.Fatalf("round %d: batch %d out of order", round, i)
			}
		}
		for k := 1; k < len(blocks); k++ {
			prev := blocks[k-1]
			if srcs[k] == srcs[k-1] && prev[0].Schema().Equal(blocks[k][0].Schema()) {
				var bytes int64
				for _, r := range prev {
					bytes += batchBytes(r)
				}
				if bytes+batchBytes(blocks[k][0]) <= target {
					t.Fatalf("round %d: block %d was cut though its next batch fit", round, k-1)
				}
			}
		}
	}
}

// A read of many batches, with the default target, makes one block per
// file where the file's batches fit in it, and the rows come out in order.
func TestReadGathersBatchesIntoBlocks(t *testing.T) {
	ctx := testCtx(t)
	opts := DefaultExecutionOptions()
	opts.TargetBlockRows = 100 // 10 batches per file
	dir := t.TempDir()
	for f := range 3 {
		var rows []Row
		for i := range 1000 {
			rows = append(rows, Row{"n": int64(f*1000 + i)})
		}
		rec, err := rowsToBatch(rows, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := writeFile("parquet", filepath.Join(dir, fmt.Sprintf("%d.parquet", f)), rec); err != nil {
			t.Fatal(err)
		}
	}
	ds, err := ReadParquet(dir).MapBatches(double2).WithExecutionOptions(opts).Materialize(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	batches := 0
	for b, err := range ds.IterBatches(ctx, IterBatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		batches++
		ns := b.Column(b.Schema().FieldIndices("n")[0]).(*array.Int64).Int64Values()
		for _, v := range ns {
			if v != n {
				t.Fatalf("row %d is %d", n, v)
			}
			n++
		}
	}
	if blocks := len(ds.op.blocks); n != 3000 || blocks != 3 || batches != 30 {
		t.Fatalf("%d rows in %d blocks of %d batches, want 3000 rows in 3 blocks (one per file) of 30", n, blocks, batches)
	}
}
