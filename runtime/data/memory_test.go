package data

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/goray-dev/goray/runtime/ray"
)

// double2 adds column "y" = 2*id to a batch (arrow format: no row work).
var double2 = MapBatchesFn("test.double2", func(ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
	ids := b.Column(0).(*array.Int64).Int64Values()
	yb := array.NewInt64Builder(memory.DefaultAllocator)
	for _, id := range ids {
		yb.Append(2 * id)
	}
	fields := append(b.Schema().Fields(), arrow.Field{Name: "y", Type: arrow.PrimitiveTypes.Int64})
	cols := append(b.Columns()[:b.NumCols():b.NumCols()], yb.NewArray())
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
})

// peakStoreUse samples the nodes' object store use (their heartbeats
// report it) until stop, and returns the highest.
func peakStoreUse(ctx context.Context, stop <-chan struct{}) int64 {
	var peak int64
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		nodes, err := ray.Nodes(ctx)
		if err == nil {
			var used int64
			for _, n := range nodes {
				used += n.ObjectStoreUsed
			}
			peak = max(peak, used)
		}
		select {
		case <-stop:
			return peak
		case <-t.C:
		}
	}
}

// A dataset many times the executor's budgets streams through the object
// store: the store's measured peak stays within the bound the budgets
// give, far below the data that went through it.
func TestObjectStoreStaysWithinBudget(t *testing.T) {
	ctx := testCtx(t)
	opts := DefaultExecutionOptions()
	opts.MaxTasksPerOp, opts.BlocksAheadPerTask, opts.OpBudgetBytes, opts.TargetBlockRows = 2, 1, 1<<20, 1<<15
	// A block of a batch, as the bound below counts.
	opts.TargetMaxBlockBytes = 1 << 20
	const rows = 4 << 20 // 32 MiB of ids, 96 MiB with the added columns
	ds := Range(rows, OverrideNumBlocks(rows>>15)).MapBatches(double2).
		MapBatches(poolTag, ActorPoolSize(1, 2), NumCPUs(0.5)).WithExecutionOptions(opts)

	before := peakStoreUse(ctx, closedChan())
	stop := make(chan struct{})
	var peak int64
	var wg sync.WaitGroup
	wg.Go(func() { peak = peakStoreUse(ctx, stop) })
	var n, bytes int64
	for b, err := range ds.IterBatches(ctx, IterBatchSize(0)) {
		if err != nil {
			t.Fatal(err)
		}
		n += b.NumRows()
		bytes += batchBytes(b)
	}
	close(stop)
	wg.Wait()
	if n != rows {
		t.Fatalf("%d rows", n)
	}
	// Per operator: its budget, and what its running tasks may have made
	// ahead and taken in (a block is under 1 MiB as Arrow IPC); two
	// operators. The store's use is sampled from the nodes' heartbeats.
	const block = 1 << 20
	bound := 2 * (opts.OpBudgetBytes + int64(opts.MaxTasksPerOp*opts.CallsPerActor*(opts.BlocksAheadPerTask+1))*block)
	t.Logf("%d MiB went through; the object store's peak was %d MiB over %d MiB before (bound %d MiB)",
		bytes>>20, peak>>20, before>>20, bound>>20)
	if peak-before > bound {
		t.Fatalf("the object store held %d MiB at its peak, more than the %d MiB the budgets allow", (peak-before)>>20, bound>>20)
	}
	if bytes < 4*bound {
		t.Fatalf("only %d MiB went through: the test does not exceed the bound", bytes>>20)
	}
}

func closedChan() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}
