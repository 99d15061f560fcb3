package data

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"
	mrand "math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	arrowcompute "github.com/apache/arrow-go/v18/arrow/compute"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/goray-dev/goray/runtime/ray"
)

// Consumption runs the plan. Every consumer streams: blocks are fetched
// as the executor makes them, a few ahead of the consumer, and released
// once read, so only what the consumer holds stays in its memory.

// fetched is an output block fetched and decoded, or the end's error.
type fetched struct {
	rec  arrow.RecordBatch
	meta blockMeta
	err  error
}

// blocks runs the plan and fetches its output blocks in order, up to
// prefetch ahead of the consumer, and gives the batches each is made of
// (a task gathers its batches into blocks: joining them again would copy
// every row the driver reads). Breaking out of the loop stops the run.
func (d *Dataset) blocks(ctx context.Context, prefetch int) iter.Seq2[fetched, *execStats] {
	return func(yield func(fetched, *execStats) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		items, stats := d.stream(ctx)
		defer stats.done()
		ahead := make(chan fetched, max(0, prefetch-1))
		go func() {
			defer close(ahead)
			for it := range items {
				if it.err != nil {
					select {
					case ahead <- fetched{err: it.err}:
					case <-ctx.Done():
					}
					return
				}
				start := time.Now()
				recs, err := fetchBatches(ctx, it.b)
				it.b.release()
				stats.addWait(0, time.Since(start))
				if err != nil {
					recs = []arrow.RecordBatch{nil}
				}
				for _, rec := range recs {
					select {
					case ahead <- fetched{rec: rec, meta: it.b.meta, err: err}:
					case <-ctx.Done():
						return
					}
				}
				if err != nil {
					return
				}
			}
		}()
		for {
			start := time.Now()
			f, ok := <-ahead
			stats.addWait(time.Since(start), 0)
			if !ok {
				if err := ctx.Err(); err != nil {
					yield(fetched{err: err}, stats)
				}
				return
			}
			if !yield(f, stats) || f.err != nil {
				return
			}
		}
	}
}

// fetchBatches gets a block and decodes its batches (a batch without rows
// of its schema for a block without any, so consumers learn the schema).
func fetchBatches(ctx context.Context, b bundle) ([]arrow.RecordBatch, error) {
	raw, err := ray.Get(ctx, b.ref)
	if err != nil {
		return nil, err
	}
	recs, schema, err := decodeBatches(raw)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		recs = []arrow.RecordBatch{emptyBatch(schema)}
	}
	return recs, nil
}

// IterOption configures IterBatches.
type IterOption func(*iterOptions)

type iterOptions struct {
	batchSize    int
	prefetch     int
	shuffleRows  int
	shuffleSeed  uint64
	dropLast     bool
	seedProvided bool
}

// IterBatchSize sets the rows per batch (Ray's batch_size, default 256);
// 0 gives the batches the blocks are made of, as they are (a read's
// batches have at most TargetBlockRows rows).
func IterBatchSize(n int) IterOption { return func(o *iterOptions) { o.batchSize = n } }

// Prefetch sets how many blocks are fetched ahead of the consumer
// (Ray's prefetch_batches; default 1).
func Prefetch(n int) IterOption { return func(o *iterOptions) { o.prefetch = n } }

// LocalShuffle shuffles rows within a buffer of at least n rows before
// batching (Ray's local_shuffle_buffer_size); seed makes it repeatable.
func LocalShuffle(n int, seed uint64) IterOption {
	return func(o *iterOptions) { o.shuffleRows, o.shuffleSeed, o.seedProvided = n, seed, true }
}

// DropLast drops a last batch shorter than the batch size.
func DropLast() IterOption { return func(o *iterOptions) { o.dropLast = true } }

// IterBatches runs the dataset and ranges over its rows in batches of
// IterBatchSize rows (the last may be short), in order unless
// LocalShuffle. Convert a batch with ToRows or ToColumns for another
// format. An error ends the range as its last pair.
func (d *Dataset) IterBatches(ctx context.Context, opts ...IterOption) iter.Seq2[arrow.RecordBatch, error] {
	o := iterOptions{batchSize: 256, prefetch: 1}
	for _, f := range opts {
		f(&o)
	}
	return func(yield func(arrow.RecordBatch, error) bool) {
		var held []arrow.RecordBatch
		var heldRows int64
		var rng *mrand.Rand
		if o.shuffleRows > 0 {
			rng = mrand.New(mrand.NewPCG(o.shuffleSeed, 0x9e3779b97f4a7c15))
		}
		// cut takes the next batch of n rows from the held rows, at
		// random when shuffling.
		cut := func(n int64) (arrow.RecordBatch, error) {
			all, err := concatBatches(held[0].Schema(), held)
			if err != nil {
				return nil, err
			}
			if rng != nil {
				perm := rng.Perm(int(all.NumRows()))
				idx := make([]int64, len(perm))
				for i, p := range perm {
					idx[i] = int64(p)
				}
				if all, err = takeRows(ctx, all, idx); err != nil {
					return nil, err
				}
			}
			batch := all.NewSlice(0, n)
			rest := all.NewSlice(n, all.NumRows())
			held, heldRows = nil, rest.NumRows()
			if heldRows > 0 {
				held = []arrow.RecordBatch{rest}
			}
			return batch, nil
		}
		for f := range d.blocks(ctx, o.prefetch) {
			if f.err != nil {
				yield(nil, f.err)
				return
			}
			if o.batchSize <= 0 && rng == nil {
				if !yield(f.rec, nil) {
					return
				}
				continue
			}
			if f.rec.NumRows() == 0 {
				continue
			}
			held = append(held, f.rec)
			heldRows += f.rec.NumRows()
			size := int64(o.batchSize)
			if size <= 0 {
				size = f.rec.NumRows()
			}
			for heldRows >= size+int64(o.shuffleRows) {
				b, err := cut(size)
				if err != nil {
					yield(nil, err)
					return
				}
				if !yield(b, nil) {
					return
				}
			}
		}
		size := int64(o.batchSize)
		for heldRows > 0 {
			if size <= 0 || size > heldRows {
				if o.dropLast && size > 0 {
					return
				}
				size = heldRows
			}
			b, err := cut(size)
			if err != nil {
				yield(nil, err)
				return
			}
			if !yield(b, nil) {
				return
			}
		}
	}
}

// takeRows is the rows of rec at idx, in that order.
func takeRows(ctx context.Context, rec arrow.RecordBatch, idx []int64) (arrow.RecordBatch, error) {
	b := array.NewInt64Builder(memory.DefaultAllocator)
	defer b.Release()
	b.AppendValues(idx, nil)
	indices := b.NewArray()
	defer indices.Release()
	cols := make([]arrow.Array, rec.NumCols())
	for i, c := range rec.Columns() {
		out, err := arrowcompute.TakeArray(ctx, c, indices)
		if err != nil {
			return nil, fmt.Errorf("take column %s: %w", rec.ColumnName(i), err)
		}
		cols[i] = out
	}
	return array.NewRecordBatch(rec.Schema(), cols, int64(len(idx))), nil
}

// ToRows is a batch's rows.
func ToRows(batch arrow.RecordBatch) []Row { return batchToRows(batch) }

// ToColumns is a batch in the columns format.
func ToColumns(batch arrow.RecordBatch) Columns { return batchToColumns(batch) }

// IterRows ranges over the dataset's rows in order.
func (d *Dataset) IterRows(ctx context.Context) iter.Seq2[Row, error] {
	return IterRowsAs[Row](ctx, d)
}

// IterRowsAs ranges over the dataset's rows as T (a Row or a struct).
func IterRowsAs[T any](ctx context.Context, d *Dataset) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		for f := range d.blocks(ctx, 1) {
			if f.err != nil {
				yield(zero, f.err)
				return
			}
			for _, r := range batchToRows(f.rec) {
				v, err := fromRow[T](r)
				if !yield(v, err) || err != nil {
					return
				}
			}
		}
	}
}

// TakeAs is the first n rows as T; fewer if the dataset is shorter.
func TakeAs[T any](ctx context.Context, d *Dataset, n int64) ([]T, error) {
	var out []T
	if n <= 0 {
		return out, nil
	}
	for v, err := range IterRowsAs[T](ctx, d.Limit(n)) {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// TakeAllAs is every row as T.
func TakeAllAs[T any](ctx context.Context, d *Dataset) ([]T, error) {
	var out []T
	for v, err := range IterRowsAs[T](ctx, d) {
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Take is the first n rows (Ray's take); only as much of the dataset
// runs as they need.
func (d *Dataset) Take(ctx context.Context, n int64) ([]Row, error) { return TakeAs[Row](ctx, d, n) }

// TakeAll is every row (Ray's take_all): the dataset must fit in this
// process's memory.
func (d *Dataset) TakeAll(ctx context.Context) ([]Row, error) { return TakeAllAs[Row](ctx, d) }

// Count is the number of rows. It needs only the blocks' metadata: no
// block is fetched.
func (d *Dataset) Count(ctx context.Context) (int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items, stats := d.stream(ctx)
	defer stats.done()
	var n int64
	for it := range items {
		if it.err != nil {
			return 0, it.err
		}
		n += it.b.meta.Rows
		it.b.release()
	}
	return n, ctx.Err()
}

// Schema is the dataset's schema: that of its first block with rows (or
// of its first block if none has rows; nil without blocks). It runs the
// plan until that block.
func (d *Dataset) Schema(ctx context.Context) (*arrow.Schema, error) {
	var first *arrow.Schema
	for f := range d.blocks(ctx, 1) {
		if f.err != nil {
			return nil, f.err
		}
		if f.rec.NumRows() > 0 {
			return f.rec.Schema(), nil
		}
		if first == nil {
			first = f.rec.Schema()
		}
	}
	return first, nil
}

// Show prints the first n rows to stdout, one a line (Ray's show).
func (d *Dataset) Show(ctx context.Context, n int64) error { return d.ShowTo(ctx, os.Stdout, n) }

// ShowTo prints the first n rows to w, columns in the schema's order.
func (d *Dataset) ShowTo(ctx context.Context, w io.Writer, n int64) error {
	for f := range d.Limit(n).blocks(ctx, 1) {
		if f.err != nil {
			return f.err
		}
		for i := range int(f.rec.NumRows()) {
			var b strings.Builder
			b.WriteString("{")
			for c, col := range f.rec.Columns() {
				if c > 0 {
					b.WriteString(", ")
				}
				fmt.Fprintf(&b, "%s: %v", f.rec.ColumnName(c), valueAt(col, i))
			}
			b.WriteString("}\n")
			if _, err := io.WriteString(w, b.String()); err != nil {
				return err
			}
		}
	}
	return nil
}

// Materialize runs the dataset and keeps its blocks in the object store:
// the returned dataset reads them instead of running the plan again (Ray's
// materialize). They are freed when it is unreachable.
func (d *Dataset) Materialize(ctx context.Context) (*Dataset, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	items, stats := d.stream(ctx)
	defer stats.done()
	var blocks []bundle
	for it := range items {
		if it.err != nil {
			return nil, it.err
		}
		b := it.b
		b.owned = false
		blocks = append(blocks, b)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := newSource(&logicalOp{name: "Materialized", blocks: blocks})
	m.opts = d.opts
	m.last.set(stats)
	return m, nil
}

// WriteParquet writes the dataset into dir, a Parquet file per block
// (Ray's write_parquet). Files appear under their final names only once
// every block is written; a failure leaves none of this write's files.
func (d *Dataset) WriteParquet(ctx context.Context, dir string) error {
	return d.write(ctx, "parquet", dir)
}

// WriteCSV writes the dataset into dir, a CSV file with a header per block.
func (d *Dataset) WriteCSV(ctx context.Context, dir string) error { return d.write(ctx, "csv", dir) }

// WriteJSON writes the dataset into dir, a JSON lines file per block.
func (d *Dataset) WriteJSON(ctx context.Context, dir string) error { return d.write(ctx, "json", dir) }

func (d *Dataset) write(ctx context.Context, format, dir string) error {
	abs, err := absPath(dir)
	if err != nil {
		return err
	}
	spec := &writeSpec{Format: format, Dir: abs, ID: newWriteID()}
	name := map[string]string{"parquet": "WriteParquet", "csv": "WriteCSV", "json": "WriteJSON"}[format]
	w := d.with(&logicalOp{name: name, stage: &stageSpec{Op: "Write", Write: spec}})
	byNode := map[string][]fileMove{}
	var runErr error
	for f := range w.blocks(ctx, 4) {
		if f.err != nil {
			runErr = f.err
			break
		}
		for _, r := range batchToRows(f.rec) {
			node, _ := r["node"].(string)
			tmp, _ := r["tmp"].(string)
			final, _ := r["final"].(string)
			byNode[node] = append(byNode[node], fileMove{Tmp: tmp, Final: final})
		}
	}
	d.last.set(w.last.get())
	// Commit or abort with a context of its own: a cancelled ctx must
	// still remove the temporary files.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	if runErr != nil {
		if err := finishWrite(fctx, byNode, false); err != nil {
			return errors.Join(runErr, fmt.Errorf("removing the temporary files: %w", err))
		}
		return runErr
	}
	if err := finishWrite(fctx, byNode, true); err != nil {
		return fmt.Errorf("%s: committing the files: %w", name, err)
	}
	return nil
}

func newWriteID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
