package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/apache/arrow-go/v18/parquet/pqarrow"

	"github.com/goray-dev/goray/runtime/data"
	"github.com/goray-dev/goray/runtime/ray"
)

// The pipeline of issue 18's acceptance: ReadParquet → MapBatches on an
// actor pool → GroupBy/Aggregate → WriteParquet, over a dataset four times
// the cluster's object store capacity.

const (
	workerStoreBytes = 64 << 20
	padBytes         = 228 // a row is 24 bytes of int64s, a 4-byte offset and its pad: 256 bytes
	rowBytes         = 3*8 + 4 + padBytes
	groups           = 97
	blockRows        = 8192 // 2 MiB blocks
	rowsPerFile      = 5 * blockRows
)

// scoreArg is the pool's constructor argument: the "model" (a
// multiplier) and a directory where each call leaves a mark, so that a
// test sees how far the pipeline got.
type scoreArg struct {
	Mult  int64  `json:"mult"`
	Marks string `json:"marks"`
}

type scorer struct {
	arg   scoreArg
	calls atomic.Int64
}

// score adds column "score" = value*mult + key to each batch, on an actor
// pool whose actors build their state once.
var score = data.MapBatchesClass("it.score",
	func(ctx context.Context, arg scoreArg) (*scorer, error) { return &scorer{arg: arg}, nil },
	func(s *scorer, ctx context.Context, b arrow.RecordBatch) (arrow.RecordBatch, error) {
		col := func(name string) *array.Int64 {
			return b.Column(b.Schema().FieldIndices(name)[0]).(*array.Int64)
		}
		keys, values := col("key").Int64Values(), col("value").Int64Values()
		sb := array.NewInt64Builder(memory.DefaultAllocator)
		defer sb.Release()
		sb.Reserve(len(keys))
		for i := range keys {
			sb.UnsafeAppend(values[i]*s.arg.Mult + keys[i])
		}
		if s.arg.Marks != "" {
			n := s.calls.Add(1)
			mark := fmt.Sprintf("%s_%d_%d", ray.NodeID(), os.Getpid(), n)
			if err := os.WriteFile(filepath.Join(s.arg.Marks, mark), nil, 0o644); err != nil {
				return nil, err
			}
		}
		fields := append(b.Schema().Fields(), arrow.Field{Name: "score", Type: arrow.PrimitiveTypes.Int64})
		cols := append(b.Columns()[:b.NumCols():b.NumCols()], sb.NewArray())
		return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, b.NumRows()), nil
	})

// row i of the generated dataset; its pad is a letter repeated, the same
// column in every file.
func keyOf(i int64) int64   { return i * 7919 % groups }
func valueOf(i int64) int64 { return (i*31 + 7) % 1000003 }
func padOf(i int64) string  { return strings.Repeat(string(rune('a'+i%rowsPerFile%26)), padBytes) }

// input is the dataset the tests read, written once: rows rows in Parquet
// files of rowsPerFile rows in dir.
var input struct {
	once sync.Once
	dir  string
	rows int64
	err  error
}

// inputDataset returns the dataset's directory and rows, writing it on
// the first call: 4× the object stores' capacity of a head and two nodes.
func inputDataset(t *testing.T) (string, int64) {
	t.Helper()
	input.once.Do(func() {
		input.dir, input.rows = filepath.Join(tmpDir, "input"), datasetRows(headStoreBytes+2*workerStoreBytes)
		input.err = writeDataset(input.dir, input.rows)
	})
	if input.err != nil {
		t.Fatalf("writing the dataset: %v", input.err)
	}
	return input.dir, input.rows
}

// writeDataset writes rows rows in Parquet files of rowsPerFile rows into
// dir.
func writeDataset(dir string, rows int64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "id", Type: arrow.PrimitiveTypes.Int64},
		{Name: "key", Type: arrow.PrimitiveTypes.Int64},
		{Name: "value", Type: arrow.PrimitiveTypes.Int64},
		{Name: "pad", Type: arrow.BinaryTypes.String},
	}, nil)
	pb := array.NewStringBuilder(memory.DefaultAllocator)
	for i := range int64(rowsPerFile) {
		pb.Append(padOf(i))
	}
	pads := pb.NewArray()
	pb.Release()
	defer pads.Release()
	for f, lo := 0, int64(0); lo < rows; f, lo = f+1, lo+rowsPerFile {
		hi := min(lo+rowsPerFile, rows)
		ids, keys, values := make([]int64, hi-lo), make([]int64, hi-lo), make([]int64, hi-lo)
		for i := lo; i < hi; i++ {
			ids[i-lo], keys[i-lo], values[i-lo] = i, keyOf(i), valueOf(i)
		}
		cols := make([]arrow.Array, 0, 4)
		for _, c := range [][]int64{ids, keys, values} {
			b := array.NewInt64Builder(memory.DefaultAllocator)
			b.AppendValues(c, nil)
			cols = append(cols, b.NewArray())
			b.Release()
		}
		cols = append(cols, array.NewSlice(pads, 0, hi-lo))
		rec := array.NewRecordBatch(schema, cols, hi-lo)
		if err := writeParquet(filepath.Join(dir, fmt.Sprintf("part-%04d.parquet", f)), rec); err != nil {
			return err
		}
		rec.Release()
	}
	return nil
}

func writeParquet(path string, rec arrow.RecordBatch) error {
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	w, err := pqarrow.NewFileWriter(rec.Schema(), out, parquet.NewWriterProperties(parquet.WithCompression(compress.Codecs.Snappy)),
		pqarrow.DefaultWriterProps())
	if err != nil {
		_ = out.Close()
		return err
	}
	if err := w.Write(rec); err != nil {
		_ = w.Close()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := out.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return err
	}
	return nil
}

// group is a row of the aggregation.
type group struct {
	Key      int64   `data:"key"`
	Count    int64   `data:"count()"`
	SumValue int64   `data:"sum(value)"`
	SumScore int64   `data:"sum(score)"`
	MinScore int64   `data:"min(score)"`
	MaxValue int64   `data:"max(value)"`
	Mean     float64 `data:"mean(value)"`
}

// reference is the aggregation computed in plain Go, by key.
func reference(rows, mult int64) []group {
	out := make([]group, groups)
	for k := range out {
		out[k] = group{Key: int64(k), MinScore: 1 << 62, MaxValue: -1}
	}
	for i := range rows {
		g := &out[keyOf(i)]
		v := valueOf(i)
		s := v*mult + g.Key
		g.Count++
		g.SumValue += v
		g.SumScore += s
		g.MinScore = min(g.MinScore, s)
		g.MaxValue = max(g.MaxValue, v)
	}
	for k := range out {
		out[k].Mean = float64(out[k].SumValue) / float64(out[k].Count)
	}
	return out
}

// opts are the executor's budgets of the pipeline: 2 MiB blocks (a batch
// of a read each, not gathered into larger ones), two
// tasks (or two actors of two calls each) per operator, one block ahead
// per task, 8 MiB of blocks waiting per operator.
func opts() data.ExecutionOptions {
	o := data.DefaultExecutionOptions()
	o.MaxTasksPerOp, o.BlocksAheadPerTask, o.OpBudgetBytes, o.TargetBlockRows, o.CallsPerActor = 2, 1, 8<<20, blockRows, 2
	o.TargetMaxBlockBytes = blockRows * rowBytes
	o.NoProgress = true
	return o
}

// budget is what the options let the pipeline hold in the object store
// (docs/data.md, Backpressure): per streaming operator that makes blocks
// of the dataset's size (the read and the pool; the aggregation's partial
// results are a few KiB), its budget and what its running tasks may have
// taken in and made ahead.
func budget(o data.ExecutionOptions) int64 {
	block := int64(blockRows*rowBytes) + 64<<10 // and the IPC stream's messages
	perOp := o.OpBudgetBytes + int64(o.MaxTasksPerOp*o.CallsPerActor*(o.BlocksAheadPerTask+1))*block
	return 2 * perOp
}

// pipeline is ReadParquet(in) → MapBatches(score) on a pool of two actors
// → GroupBy(key).Aggregate, to be written.
func pipeline(in string, arg scoreArg) *data.Dataset {
	return aggregate(data.ReadParquet(in).
		MapBatches(score, data.ActorPoolSize(2, 2), data.NumCPUs(0.5), data.ConstructorArg(arg)))
}

// pipelineThroughTasks has an operator of tasks between the pool and the
// aggregation (DropColumns): the pool's blocks wait in the object store
// for its tasks, where a node's death loses them.
func pipelineThroughTasks(in string, arg scoreArg) *data.Dataset {
	return aggregate(data.ReadParquet(in).
		MapBatches(score, data.ActorPoolSize(2, 2), data.NumCPUs(0.5), data.ConstructorArg(arg)).
		DropColumns("pad"))
}

func aggregate(ds *data.Dataset) *data.Dataset {
	return ds.GroupBy("key").Aggregate(data.Count(), data.Sum("value"), data.Sum("score"), data.Min("score"), data.Max("value"), data.Mean("value")).
		WithExecutionOptions(opts())
}

func checkOutput(t *testing.T, ctx context.Context, out string, rows, mult int64) {
	t.Helper()
	got, err := data.TakeAllAs[group](ctx, data.ReadParquet(out).WithExecutionOptions(opts()))
	if err != nil {
		t.Fatal(err)
	}
	want := reference(rows, mult)
	if len(got) != len(want) {
		t.Fatalf("%d groups written, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("group %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(out, ".*"))
	if len(tmps) > 0 {
		t.Fatalf("temporary files left: %v", tmps)
	}
}

// datasetRows is the rows that make 4× capacity bytes of Arrow data, in
// whole files.
func datasetRows(capacity int64) int64 {
	rows := 4*capacity/rowBytes + 1
	return (rows + rowsPerFile - 1) / rowsPerFile * rowsPerFile
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// The dataset is 4× the capacity of the cluster's object stores (head and
// both nodes); the stores' sampled peak stays within the budget the
// execution options give, nothing is spilled, and the groups written are
// the reference's.
func TestPipelineWithinObjectStoreBudget(t *testing.T) {
	ctx := testCtx(t)
	nodes := startNodes(t, []string{"127.0.0.2", "127.0.0.3"}, "--num-cpus=2", fmt.Sprintf("--object-store-memory=%d", workerStoreBytes))
	in, rows := inputDataset(t)
	out := t.TempDir()
	sampler := sampleStores(t, []string{headAddr, nodes[0].addr, nodes[1].addr})
	const mult = 3
	start := time.Now()
	ds := pipeline(in, scoreArg{Mult: mult})
	err := ds.WriteParquet(ctx, out)
	elapsed := time.Since(start)
	peak, spilled, samples := sampler.finish()
	if err != nil {
		t.Fatal(err)
	}
	bound := budget(opts())
	t.Logf("%d rows, %d MiB of Arrow data through a cluster of %d MiB of object stores in %v; peak store use %.1f MiB (%d samples), budget %d MiB, %d bytes spilled",
		rows, rows*rowBytes>>20, sampler.capacity>>20, elapsed.Round(time.Millisecond), float64(peak)/(1<<20), samples, bound>>20, spilled)
	t.Log(ds.Stats())
	if rows*rowBytes < 4*sampler.capacity {
		t.Fatalf("the dataset (%d bytes) is not 4× the stores' capacity (%d)", rows*rowBytes, sampler.capacity)
	}
	if peak > bound {
		t.Errorf("the object stores held %.1f MiB at their peak, more than the %d MiB budget", float64(peak)/(1<<20), bound>>20)
	}
	if spilled > 0 {
		t.Errorf("%d bytes spilled: the pipeline should fit its budget, far below the stores' capacity", spilled)
	}
	checkOutput(t, ctx, out, rows, mult)
}

// marks are the calls of the pool's actors so far: node id → the pids
// of the actors there, and the number of calls.
func readMarks(dir string) (byNode map[string]map[string]bool, calls int) {
	byNode = map[string]map[string]bool{}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		f := strings.Split(e.Name(), "_")
		if len(f) != 3 {
			continue
		}
		if byNode[f[0]] == nil {
			byNode[f[0]] = map[string]bool{}
		}
		byNode[f[0]][f[1]] = true
		calls++
	}
	return byNode, calls
}

// A worker node killed (SIGKILL, with its workers) once a third of the
// batches are scored, one where an actor of the pool runs: the pipeline
// finishes on the other node with the reference's groups. The actor
// there is replaced by one on the other node and its calls are retried;
// the blocks lost with the node are made again from their lineage.
func TestPipelineSurvivesNodeDeath(t *testing.T) {
	survivesNodeDeath(t, []string{"127.0.0.7", "127.0.0.8"}, 2, pipeline)
}

// The same with the pool's blocks waiting in the object store for the
// tasks of the next operator: those lost with the node are made again by
// calling the pool's (restarted) actor again, which needs their inputs
// read again. On 2-CPU nodes this stalled while read tasks paused by the
// generators' backpressure held every CPU of the node left and the
// restarted actor and the tasks that would consume their blocks waited
// for one: a paused task now lends its CPUs, as a task waiting in a Get
// does.
func TestPoolBlocksRebuiltAfterNodeDeath(t *testing.T) {
	survivesNodeDeath(t, []string{"127.0.0.31", "127.0.0.32"}, 2, pipelineThroughTasks)
}

func survivesNodeDeath(t *testing.T, ips []string, cpus int, build func(in string, arg scoreArg) *data.Dataset) {
	ctx := testCtx(t)
	nodes := startNodes(t, ips, fmt.Sprintf("--num-cpus=%d", cpus), fmt.Sprintf("--object-store-memory=%d", workerStoreBytes))
	in, rows := inputDataset(t)
	out, marks := t.TempDir(), t.TempDir()
	const mult = 5
	ds := build(in, scoreArg{Mult: mult, Marks: marks})
	var wg sync.WaitGroup
	var err error
	start := time.Now()
	wg.Go(func() { err = ds.WriteParquet(ctx, out) })
	third := int(rows / blockRows / 3)
	var victim, survivor *node
	var before map[string]map[string]bool
	for deadline := time.Now().Add(5 * time.Minute); victim == nil && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		byNode, calls := readMarks(marks)
		if calls < third {
			continue
		}
		victim, survivor = nodes[0], nodes[1]
		if len(byNode[victim.id]) == 0 {
			victim, survivor = nodes[1], nodes[0]
		}
		before = byNode
		victim.kill()
	}
	killedAt := time.Since(start)
	wg.Wait()
	if victim == nil {
		t.Fatalf("the pipeline never scored %d blocks (%v)", third, err)
	}
	if err != nil {
		t.Fatalf("the pipeline failed after node %s was killed at %v: %v", victim.ip, killedAt, err)
	}
	after, calls := readMarks(marks)
	t.Logf("node %s killed at %v after %d of %d blocks were scored; finished in %v with %d calls; actors (node → pids) before %v, after %v",
		victim.ip, killedAt.Round(time.Millisecond), third, rows/blockRows, time.Since(start).Round(time.Millisecond), calls, before, after)
	t.Log(ds.Stats())
	if len(before[victim.id]) == 0 {
		t.Fatalf("no actor of the pool ran on either node: %v", before)
	}
	var replaced bool
	for pid := range after[survivor.id] {
		replaced = replaced || !before[survivor.id][pid]
	}
	if !replaced {
		t.Errorf("no new actor on node %s after node %s died: %v", survivor.ip, victim.ip, after)
	}
	checkOutput(t, ctx, out, rows, mult)
}
