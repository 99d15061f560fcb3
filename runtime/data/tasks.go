package data

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/goray-dev/goray/runtime/ray"
)

// The task and the actor class every operator runs on. A task (or an
// actor call) is a streaming generator: for each output block it yields
// the block, then the block's metadata, so the driver learns rows and
// bytes from the small metadata object without fetching the block, and
// downstream work starts on a block while the task is still making the
// next.

// runTask is a fused operator's task: spec, and the input block (empty for
// a read).
var runTask = ray.Generator2("goray.data.run", func(ctx context.Context, spec taskSpec, input []byte, yield func([]byte) error) error {
	return execute(ctx, spec, nil, input, yield)
})

// poolActor is an actor of an actor-pool operator: it holds the instances
// of the chain's class functions, built once when the actor starts.
type poolActor struct {
	states map[int]any // by stage index
}

var poolClass = ray.Actor1("goray.data.pool", func(ctx context.Context, stages []stageSpec) (*poolActor, error) {
	a := &poolActor{states: map[int]any{}}
	for i, s := range stages {
		if s.Fn == "" {
			continue
		}
		u, err := lookupUDF(s.Fn)
		if err != nil {
			return nil, err
		}
		if u.newState == nil {
			continue
		}
		st, err := u.newState(ctx, s.CtorArg)
		if err != nil {
			return nil, fmt.Errorf("%s(%s): constructing the class: %w", s.Op, s.Fn, err)
		}
		a.states[i] = st
	}
	return a, nil
})

var poolRun = ray.GeneratorMethod2(poolClass, "run", func(a *poolActor, ctx context.Context, spec taskSpec, input []byte, yield func([]byte) error) error {
	return execute(ctx, spec, a.states, input, yield)
})

// execute runs a task: reads or decodes its input, pushes it through the
// chain and yields each output block and its metadata.
func execute(ctx context.Context, spec taskSpec, states map[int]any, input []byte, yield func([]byte) error) error {
	// Pin the goroutine to its thread so the thread's CPU time is the
	// task's (the stats' CPU time).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	clock := newTaskClock()
	stages, err := buildStages(spec.Stages, states, spec.Index)
	if err != nil {
		return err
	}
	var files []fileSchema // read since the last block
	// The blocks are encoded in one buffer: yield is done with a block's
	// bytes when it returns (it encoded them into the store's memory).
	bufp := blockBufs.Get().(*[]byte)
	defer blockBufs.Put(bufp)
	gathered := &outBuffer{target: spec.BlockBytes}
	defer gathered.release()
	flush := func() error {
		recs, src := gathered.take()
		if len(recs) == 0 {
			return nil
		}
		defer func() {
			for _, r := range recs {
				r.Release()
			}
		}()
		b, meta, err := batchesAndMeta(*bufp, recs, clock, src, files)
		files = nil
		if err != nil {
			return err
		}
		*bufp = b
		if err := yield(b); err != nil {
			return err
		}
		return yield(meta)
	}
	out := func(rec arrow.RecordBatch, src string) error {
		if rec.NumRows() == 0 && rec.NumCols() == 0 {
			// A row function that made no rows cannot tell its columns:
			// the block carries nothing.
			return nil
		}
		if !gathered.joins(rec, src) {
			if err := flush(); err != nil {
				return err
			}
		}
		gathered.add(rec, src)
		if gathered.full() {
			return flush()
		}
		return nil
	}
	c := &chain{ctx: ctx, stages: stages, emit: out}
	switch {
	case spec.Read == nil:
		// The input block's batches go through one by one, as a read's
		// do (joining them would copy the block).
		recs, schema, err := decodeBatches(input)
		if err != nil {
			return err
		}
		if len(recs) == 0 && schema.NumFields() > 0 {
			recs = []arrow.RecordBatch{emptyBatch(schema)}
		}
		for _, rec := range recs {
			if rec.NumCols() == 0 && rec.NumRows() == 0 {
				continue
			}
			if err := c.push(rec, spec.Source); err != nil {
				return err
			}
		}
	case spec.Read.Format == "range":
		if err := readRange(*spec.Read, func(rec arrow.RecordBatch) error { return c.push(rec, "") }); err != nil {
			return err
		}
	default:
		for _, p := range spec.Read.Paths {
			first := true
			emit := func(rec arrow.RecordBatch) error {
				if cols := spec.Read.Columns; len(cols) > 0 {
					var err error
					if rec, err = project(rec, "SelectColumns", cols); err != nil {
						return &ReadError{Path: p, Format: spec.Read.Format, Err: err}
					}
				}
				if first {
					files = append(files, fileSchema{Path: p, Schema: schemaString(rec.Schema())})
					first = false
				}
				if spec.Read.IncludePaths {
					rec = withPath(rec, p)
				}
				return c.push(rec, p)
			}
			if err := readFile(ctx, spec.Read.Format, p, spec.Read.Rows, spec.Read.Columns, emit); err != nil {
				return err
			}
		}
	}
	if err := c.flush(); err != nil {
		return err
	}
	return flush()
}

var rangeSchema = arrow.NewSchema([]arrow.Field{{Name: "id", Type: arrow.PrimitiveTypes.Int64}}, nil)

// readRange makes the ids [Start, End) as column "id", Ray's range.
func readRange(r readSpec, emit emitFunc) error {
	for lo := r.Start; lo < r.End; lo += int64(r.Rows) {
		hi := min(lo+int64(r.Rows), r.End)
		b := array.NewInt64Builder(memory.DefaultAllocator)
		b.Reserve(int(hi - lo))
		for i := lo; i < hi; i++ {
			b.UnsafeAppend(i)
		}
		arr := b.NewArray()
		b.Release()
		if err := emit(array.NewRecordBatch(rangeSchema, []arrow.Array{arr}, hi-lo)); err != nil {
			return err
		}
	}
	return nil
}

// withPath adds column "path" (the file's path) to a batch read from it.
func withPath(rec arrow.RecordBatch, path string) arrow.RecordBatch {
	b := array.NewStringBuilder(memory.DefaultAllocator)
	defer b.Release()
	for range rec.NumRows() {
		b.Append(path)
	}
	fields := append(rec.Schema().Fields(), arrow.Field{Name: "path", Type: arrow.BinaryTypes.String})
	cols := make([]arrow.Array, 0, rec.NumCols()+1)
	cols = append(cols, rec.Columns()...)
	cols = append(cols, b.NewArray())
	return array.NewRecordBatch(arrow.NewSchema(fields, nil), cols, rec.NumRows())
}

// taskClock measures a task's wall time and its thread's CPU time between
// blocks.
type taskClock struct {
	wall time.Time
	cpu  int64
}

// blockBufs are the buffers tasks encode their output blocks in, kept
// between the tasks a worker runs.
var blockBufs = sync.Pool{New: func() any { return new([]byte) }}

// blockAndMeta encodes rec as a task's output block (in into's memory
// when it has the room) and its metadata, which the driver reads instead
// of the block (rows, bytes, schema, where it came from, and the time
// since the clock's last lap).
func blockAndMeta(into []byte, rec arrow.RecordBatch, clock *taskClock, src string, files []fileSchema) (block, meta []byte, err error) {
	return batchesAndMeta(into, []arrow.RecordBatch{rec}, clock, src, files)
}

// batchesAndMeta is blockAndMeta for a block of several batches.
func batchesAndMeta(into []byte, recs []arrow.RecordBatch, clock *taskClock, src string, files []fileSchema) (block, meta []byte, err error) {
	if block, err = encodeBatchesInto(into, recs); err != nil {
		return nil, nil, err
	}
	var rows int64
	for _, r := range recs {
		rows += r.NumRows()
	}
	wall, cpu := clock.lap()
	meta, err = json.Marshal(blockMeta{Rows: rows, Bytes: int64(len(block)), Schema: schemaString(recs[0].Schema()),
		Source: src, WallNanos: wall, CPUNanos: cpu, Files: files})
	return block, meta, err
}

// getMeta fetches a block's metadata, as blockAndMeta encoded it, and
// releases the driver's reference to it.
func getMeta(ctx context.Context, ref ray.Ref[[]byte]) (blockMeta, error) {
	var meta blockMeta
	raw, err := ray.Get(ctx, ref)
	if err != nil {
		return meta, err
	}
	ref.Release()
	if err := json.Unmarshal(raw, &meta); err != nil {
		return meta, fmt.Errorf("block metadata: %w", err)
	}
	return meta, nil
}

func newTaskClock() *taskClock { return &taskClock{wall: time.Now(), cpu: threadCPU()} }

func (c *taskClock) lap() (wall, cpu int64) {
	now, t := time.Now(), threadCPU()
	wall, cpu = now.Sub(c.wall).Nanoseconds(), t-c.cpu
	c.wall, c.cpu = now, t
	return wall, cpu
}

// rusageThread is Linux's RUSAGE_THREAD: the calling thread's usage.
const rusageThread = 1

// threadCPU is the calling thread's CPU time (user + system) in
// nanoseconds; 0 where the system cannot tell.
func threadCPU() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
