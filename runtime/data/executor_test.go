package data

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// With a budget of one byte and one task at a time, the executor stays a
// few blocks ahead of a consumer that stops after its first block,
// however long that consumer waits: the read does not run to the end.
func TestBackpressureBoundsWorkAhead(t *testing.T) {
	ctx := testCtx(t)
	opts := DefaultExecutionOptions()
	opts.MaxTasksPerOp, opts.OpBudgetBytes, opts.BlocksAheadPerTask = 1, 1, 1
	ds := Range(100_000, OverrideNumBlocks(100)).Map(mapRow).WithExecutionOptions(opts)
	first := true
	for b, err := range ds.IterBatches(ctx, IterBatchSize(0), Prefetch(1)) {
		if err != nil {
			t.Fatal(err)
		}
		if !first {
			break
		}
		first = false
		if b.NumRows() != 1000 {
			t.Fatalf("a block of %d rows", b.NumRows())
		}
		// Let the executor run ahead as far as it would: the bound below
		// holds however long this is.
		time.Sleep(300 * time.Millisecond)
		st := ds.last.get()
		st.ops[0].mu.Lock()
		tasks := st.ops[0].tasks
		st.ops[0].mu.Unlock()
		// The consumer's block, one in the fetcher, one waiting to be
		// passed on, and the task making the next.
		if tasks > 5 {
			t.Fatalf("%d of 100 tasks started while the consumer held its first block", tasks)
		}
	}
}

// Several operators each within their budget: the blocks in flight
// between them stay bounded while a long pipeline streams through.
func TestStreamingManyBlocks(t *testing.T) {
	ctx := testCtx(t)
	opts := DefaultExecutionOptions()
	opts.OpBudgetBytes = 64 << 10
	ds := Range(200_000, OverrideNumBlocks(200)).Map(mapRow).Filter(keepOdd).
		MapBatches(poolTag, ActorPoolSize(1, 2), NumCPUs(0.5)).WithExecutionOptions(opts)
	var n, sum int64
	for b, err := range ds.IterBatches(ctx, IterBatchSize(4096)) {
		if err != nil {
			t.Fatal(err)
		}
		ids := ToColumns(b)["id"].([]int64)
		for _, id := range ids {
			if id != 2*n+1 {
				t.Fatalf("row %d has id %d", n, id)
			}
			sum += id
			n++
		}
	}
	if n != 100_000 || sum != 100_000*100_000 {
		t.Fatalf("%d rows, sum %d", n, sum)
	}
}

// crashOnce kills its worker's process the first time it runs (a marker
// file, named by the rows, says it did): a system failure, which the
// executor's retries absorb.
var crashOnce = MapBatchesFn("test.crashOnce", func(ctx context.Context, rows []Row) ([]Row, error) {
	if len(rows) > 0 {
		marker := rows[0]["marker"].(string)
		if f, err := os.OpenFile(marker, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); err == nil {
			_ = f.Close()
			os.Exit(3)
		}
	}
	for _, r := range rows {
		r["ok"] = true
	}
	return rows, nil
})

func TestTaskRetriedAfterWorkerDies(t *testing.T) {
	ctx := testCtx(t)
	marker := filepath.Join(t.TempDir(), "crashed")
	items := make([]Row, 50)
	for i := range items {
		items[i] = Row{"id": int64(i), "marker": marker}
	}
	ds, err := FromItems(ctx, items, OverrideNumBlocks(5))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := ds.MapBatches(crashOnce).TakeAll(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(marker); err != nil {
		t.Fatalf("the function never crashed: %v", err)
	}
	if len(rows) != 50 {
		t.Fatalf("%d rows", len(rows))
	}
	for i, r := range rows {
		if r["id"].(int64) != int64(i) || r["ok"] != true {
			t.Fatalf("row %d: %v", i, r)
		}
	}
	// Without retries the crash fails the run.
	if err := os.Remove(marker); err != nil {
		t.Fatal(err)
	}
	opts := DefaultExecutionOptions()
	opts.MaxTaskRetries = 0
	_, err = ds.MapBatches(crashOnce).WithExecutionOptions(opts).TakeAll(ctx)
	wantErr(t, err, "MapBatches(test.crashOnce)")
}

func TestCancelStopsRun(t *testing.T) {
	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	n := 0
	var err error
	for _, err = range Range(1_000_000, OverrideNumBlocks(1000)).Map(mapRow).IterRows(ctx) {
		if err != nil {
			break
		}
		if n++; n == 10 {
			cancel()
		}
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v (%d rows)", err, n)
	}
}

func TestExecutionOptionsDefaults(t *testing.T) {
	got := ExecutionOptions{OpBudgetBytes: 5}.withDefaults(3)
	def := DefaultExecutionOptions()
	want := ExecutionOptions{MaxTasksPerOp: 3, OpBudgetBytes: 5, BlocksAheadPerTask: def.BlocksAheadPerTask,
		TargetBlockRows: def.TargetBlockRows, TargetMaxBlockBytes: def.TargetMaxBlockBytes, CallsPerActor: def.CallsPerActor}
	if got != want {
		t.Fatalf("withDefaults = %+v, want %+v", got, want)
	}
	if got := (ExecutionOptions{}).withDefaults(1).MaxTasksPerOp; got != 2 {
		t.Fatalf("MaxTasksPerOp on one CPU = %d, want 2", got)
	}
}
