package data

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// The streaming executor runs the physical operators at once, each as a
// goroutine on the driver that submits tasks and passes block references
// downstream as soon as they exist. Backpressure keeps the data in flight
// bounded whatever the dataset's size:
//
//   - an operator runs at most MaxTasksPerOp tasks at once;
//   - a task makes at most BlocksAheadPerTask blocks that the driver has
//     not taken (the SDK's generator backpressure pauses it);
//   - an operator takes no more blocks from its tasks, and starts no new
//     task, while the blocks it made and its consumer has not taken reach
//     OpBudgetBytes; the task whose blocks are next in order is exempt, so
//     the pipeline always moves.
//
// So the object store holds at most, per operator, its budget plus what
// its running tasks have made ahead: a dataset far larger than the store
// streams through it. Blocks come out in order (each operator emits its
// tasks' blocks in the order of its input, Ray's preserve_order).

// ExecutionOptions tune the streaming executor (Ray's DataContext and
// ExecutionOptions).
type ExecutionOptions struct {
	// MaxTasksPerOp bounds each operator's tasks (or actor calls) running
	// at once; 0 means the cluster's CPUs, at least 2.
	MaxTasksPerOp int
	// OpBudgetBytes bounds the bytes of blocks an operator made that its
	// consumer has not taken yet.
	OpBudgetBytes int64
	// BlocksAheadPerTask is how many blocks a task makes ahead of the
	// driver before it pauses.
	BlocksAheadPerTask int
	// TargetBlockRows is the most rows of a batch a read makes (the
	// batches a read's fused functions work on).
	TargetBlockRows int
	// TargetMaxBlockBytes is the size a task gathers its output batches
	// into blocks of (Ray's target_max_block_size): a batch is added to
	// a block while the block stays within it, and a larger batch is a
	// block of its own.
	TargetMaxBlockBytes int64
	// MaxTaskRetries is how often a task is retried after a system failure
	// (its worker or node died); a user function's error is not retried.
	MaxTaskRetries int
	// CallsPerActor is how many calls an actor of a pool has queued or
	// running at once (2: the next block arrives while one runs).
	CallsPerActor int
	// NoProgress turns off the progress lines drawn on a terminal.
	NoProgress bool
}

// withDefaults fills the options left zero (but MaxTaskRetries and
// NoProgress, whose zero is a choice) with the defaults.
func (o ExecutionOptions) withDefaults(cpus int) ExecutionOptions {
	def := DefaultExecutionOptions()
	if o.MaxTasksPerOp <= 0 {
		o.MaxTasksPerOp = max(2, cpus)
	}
	if o.OpBudgetBytes <= 0 {
		o.OpBudgetBytes = def.OpBudgetBytes
	}
	if o.BlocksAheadPerTask <= 0 {
		o.BlocksAheadPerTask = def.BlocksAheadPerTask
	}
	if o.TargetBlockRows <= 0 {
		o.TargetBlockRows = def.TargetBlockRows
	}
	if o.TargetMaxBlockBytes <= 0 {
		o.TargetMaxBlockBytes = def.TargetMaxBlockBytes
	}
	if o.CallsPerActor <= 0 {
		o.CallsPerActor = def.CallsPerActor
	}
	return o
}

// DefaultExecutionOptions are the options a new dataset runs with; a
// zero field of the options a dataset is given takes its default, except
// MaxTaskRetries and NoProgress.
func DefaultExecutionOptions() ExecutionOptions {
	return ExecutionOptions{OpBudgetBytes: 256 << 20, BlocksAheadPerTask: 2, TargetBlockRows: 1 << 16,
		TargetMaxBlockBytes: 32 << 20, MaxTaskRetries: 3, CallsPerActor: 2}
}

// bundle is a block in the object store and what the driver knows of it.
type bundle struct {
	ref  ray.Ref[[]byte]
	meta blockMeta
	// owned: this execution made the block, and releases it once it is
	// consumed (a materialized dataset's blocks outlive executions).
	owned bool
	// pool made the block, on an actor that must live while the block
	// may have to be made again (see actorPool.retire).
	pool *actorPool
}

// release frees an owned block: its consumer is done with it.
func (b bundle) release() {
	if !b.owned {
		return
	}
	b.ref.Release()
	if b.pool != nil {
		b.pool.released()
	}
}

// item is what flows between operators: a block, or the error that ends
// the stream.
type item struct {
	b   bundle
	err error
}

// execution is one run of a plan.
type execution struct {
	opts  ExecutionOptions
	stats *execStats
}

// clusterCPUs is the CPUs of the cluster's live nodes.
func clusterCPUs(ctx context.Context) int {
	nodes, err := ray.Nodes(ctx)
	if err != nil {
		return 1
	}
	total := 0.0
	for _, n := range nodes {
		if n.Alive {
			total += n.Total["CPU"]
		}
	}
	return max(1, int(total))
}

// stream runs the dataset's plan: the blocks of its output, in order,
// until the end or the first error. Cancelling ctx (or stopping reading
// and cancelling) stops every operator.
func (d *Dataset) stream(ctx context.Context) (<-chan item, *execStats) {
	cpus := clusterCPUs(ctx)
	stats := newExecStats()
	d.last.set(stats)
	opts := d.opts.withDefaults(cpus)
	root, err := plan(d.op, cpus, opts.TargetBlockRows)
	if err != nil {
		ch := make(chan item, 1)
		ch <- item{err: err}
		close(ch)
		return ch, stats
	}
	e := &execution{opts: opts, stats: stats}
	out := e.start(ctx, root)
	if !progressEnabled(opts) {
		return out, stats
	}
	// Draw progress until the output ends.
	p := startProgress(os.Stdout, stats)
	relay := make(chan item)
	go func() {
		defer p.finish()
		defer close(relay)
		for it := range out {
			if !send(ctx, relay, it) {
				return
			}
		}
	}()
	return relay, stats
}

func (e *execution) start(ctx context.Context, op *physicalOp) <-chan item {
	switch {
	case op.isLimit:
		return e.runLimit(ctx, op)
	case op.shuffle != nil:
		return e.runShuffle(ctx, op)
	case op.union != nil:
		return e.runUnion(ctx, op)
	case op.zip != nil:
		return e.runZip(ctx, op)
	case op.input == nil && op.reads == nil:
		return e.runBlocks(ctx, op)
	}
	return e.runMap(ctx, op)
}

// send passes an item downstream unless the run is cancelled.
func send(ctx context.Context, out chan<- item, it item) bool {
	select {
	case out <- it:
		return true
	case <-ctx.Done():
		return false
	}
}

// runBlocks emits a source's blocks (FromItems, a materialized dataset).
func (e *execution) runBlocks(ctx context.Context, op *physicalOp) <-chan item {
	out := make(chan item)
	st := e.stats.op(op.name)
	go func() {
		defer close(out)
		defer st.finish()
		for _, b := range op.blocks {
			st.block(b.meta)
			if !send(ctx, out, item{b: b}) {
				return
			}
		}
	}()
	return out
}

// runLimit passes on the first n rows, cutting the block that crosses n,
// then stops its input.
func (e *execution) runLimit(ctx context.Context, op *physicalOp) <-chan item {
	out := make(chan item)
	upCtx, stopUp := context.WithCancel(ctx)
	in := e.start(upCtx, op.input)
	st := e.stats.op(op.name) // after its input's: stats list operators source first
	go func() {
		defer close(out)
		defer st.finish()
		defer stopUp()
		left := op.limit
		for it := range in {
			if left == 0 {
				return
			}
			if it.err != nil {
				send(ctx, out, it)
				return
			}
			b := it.b
			statMeta := passedOn(b.meta)
			if b.meta.Rows > left {
				start := time.Now()
				cut, err := sliceBlock(ctx, b, 0, left)
				if err != nil {
					send(ctx, out, item{err: fmt.Errorf("%s: %w", op.name, err)})
					return
				}
				cut.owned = true
				cut.meta.WallNanos = time.Since(start).Nanoseconds()
				b, statMeta = cut, cut.meta
			}
			left -= b.meta.Rows
			st.block(statMeta)
			if !send(ctx, out, item{b: b}) {
				return
			}
		}
	}()
	return out
}

// passedOn is the metadata of a block an operator passes on as it is: the
// time of the task that made it is not this operator's.
func passedOn(m blockMeta) blockMeta {
	m.WallNanos, m.CPUNanos = 0, 0
	return m
}

// sliceBlock is rows [lo, hi) of a block, as a new block (in the object
// store) with the block's metadata, its rows and bytes the slice's; the
// caller says whether it owns it.
func sliceBlock(ctx context.Context, b bundle, lo, hi int64) (bundle, error) {
	raw, err := ray.Get(ctx, b.ref)
	if err != nil {
		return bundle{}, err
	}
	rec, err := decodeBlock(raw)
	if err != nil {
		return bundle{}, err
	}
	enc, err := encodeBlock(rec.NewSlice(lo, hi))
	if err != nil {
		return bundle{}, err
	}
	ref, err := ray.Put(ctx, enc)
	if err != nil {
		return bundle{}, err
	}
	meta := b.meta
	meta.Rows, meta.Bytes, meta.WallNanos, meta.CPUNanos = hi-lo, int64(len(enc)), 0, 0
	return bundle{ref: ref, meta: meta}, nil
}

// mapTask is one task (or actor call) of a map operator.
type mapTask struct {
	gen   *ray.ObjectRefGenerator[[]byte]
	input *bundle
	actor *pooledActor
	// bundles are the blocks made and not yet passed downstream.
	bundles []bundle
	done    bool
	err     error
}

// mapRun is a map operator's state while it runs, under mu.
type mapRun struct {
	e    *execution
	op   *physicalOp
	st   *opStats
	pool *actorPool

	mu        sync.Mutex
	cond      *sync.Cond
	tasks     []*mapTask // in input order; tasks[0]'s blocks go out next
	queued    int64      // bytes of the tasks' blocks not yet passed on
	running   int
	inputDone bool
	launched  int
	// schemas checks that the files of a read share one schema.
	firstFile, firstSchema string
}

func (e *execution) runMap(ctx context.Context, op *physicalOp) <-chan item {
	out := make(chan item)
	runCtx := ctx // the run's, which outlives this operator's
	ctx, cancel := context.WithCancel(ctx)
	var in <-chan item
	if op.input != nil {
		op.input.streamedInto = true
		in = e.start(ctx, op.input)
	}
	m := &mapRun{e: e, op: op, st: e.stats.op(op.name)}
	if op.reads != nil {
		m.st.setTotalTasks(len(op.reads))
	}
	m.cond = sync.NewCond(&m.mu)
	stopWake := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.cond.Broadcast()
		m.mu.Unlock()
	})
	if op.compute.pool {
		m.pool = newActorPool(op, e.opts)
	}
	go m.launch(ctx, in)
	go func() {
		defer close(out)
		defer cancel()
		defer stopWake()
		defer m.st.finish()
		m.emit(ctx, out)
		switch {
		case m.pool != nil && op.streamedInto:
			// The operator after this one takes the pool's blocks as it
			// runs: the actors stay until it has (see retire).
			go m.pool.retire(runCtx)
		case m.pool != nil:
			// A barrier (or the consumer) holds the blocks: actors kept
			// for them could hold the resources its tasks need.
			m.pool.shutdown()
		}
	}()
	return out
}

// budgetFull: the blocks waiting to go downstream reach the budget.
func (m *mapRun) budgetFull() bool { return m.queued >= m.e.opts.OpBudgetBytes }

// launch starts a task per input (a read, or an upstream block) as the
// budgets allow.
func (m *mapRun) launch(ctx context.Context, in <-chan item) {
	next := func() (item, *readSpec, bool) {
		if in == nil {
			if m.launched >= len(m.op.reads) {
				return item{}, nil, false
			}
			return item{}, &m.op.reads[m.launched], true
		}
		select {
		case it, ok := <-in:
			return it, nil, ok
		case <-ctx.Done():
			return item{}, nil, false
		}
	}
	maxTasks := m.e.opts.MaxTasksPerOp
	if m.pool != nil {
		maxTasks = m.pool.maxActors * m.e.opts.CallsPerActor
	}
	defer func() {
		m.mu.Lock()
		m.inputDone = true
		m.cond.Broadcast()
		m.mu.Unlock()
	}()
	for {
		it, read, ok := next()
		if !ok {
			return
		}
		m.mu.Lock()
		for ctx.Err() == nil && (m.running >= maxTasks || (m.budgetFull() && len(m.tasks) > 0)) {
			m.cond.Wait()
		}
		if ctx.Err() != nil {
			m.mu.Unlock()
			return
		}
		t := &mapTask{}
		m.tasks = append(m.tasks, t)
		if it.err != nil {
			// The input failed: its error goes out in its place.
			t.err, t.done = it.err, true
			m.cond.Broadcast()
			m.mu.Unlock()
			return
		}
		m.running++
		index := m.launched
		m.launched++
		m.mu.Unlock()

		spec := taskSpec{Read: read, Stages: m.op.stages, Index: index, BlockBytes: m.e.opts.TargetMaxBlockBytes}
		if read == nil {
			b := it.b
			t.input = &b
			spec.Source = b.meta.Source
		}
		if err := m.submit(ctx, t, spec); err != nil {
			m.mu.Lock()
			t.err, t.done = err, true
			m.running--
			m.cond.Broadcast()
			m.mu.Unlock()
			return
		}
		m.st.taskStarted()
		go m.drain(ctx, t)
	}
}

// submit starts t's task or actor call.
func (m *mapRun) submit(ctx context.Context, t *mapTask, spec taskSpec) error {
	var input any = []byte(nil)
	if t.input != nil {
		input = t.input.ref
	}
	opts := m.e.opts
	if m.pool != nil {
		a, err := m.pool.acquire(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", m.op.name, err)
		}
		t.actor = a
		// Idempotent: a block a call made that was lost with its node is
		// made again by calling an actor of the pool again.
		t.gen = poolRun.Remote(ctx, a.h, spec, input, ray.GeneratorBackpressure(2*opts.BlocksAheadPerTask), ray.Idempotent())
		return t.gen.Err()
	}
	args := []any{spec, input, ray.GeneratorBackpressure(2 * opts.BlocksAheadPerTask), ray.MaxRetries(opts.MaxTaskRetries), ray.SchedulingSpread()}
	if r := m.op.compute.resources; r != nil {
		args = append(args, ray.Resources(r))
	}
	t.gen = runTask.Remote(ctx, args...)
	return t.gen.Err()
}

// drain takes t's blocks as they come, within the budget.
func (m *mapRun) drain(ctx context.Context, t *mapTask) {
	err := m.drainLoop(ctx, t)
	m.mu.Lock()
	if err != nil && t.err == nil {
		t.err = err
	}
	t.done = true
	m.running--
	m.cond.Broadcast()
	m.mu.Unlock()
	if t.actor != nil {
		m.pool.release(t.actor)
	}
	if t.input != nil {
		// The task is over: its input block is not needed any more.
		t.input.release()
	}
	if ctx.Err() != nil && t.actor == nil {
		// The run stopped (a Limit is satisfied, the consumer is gone, an
		// error): the task's further blocks would be thrown away.
		_ = ray.Cancel(t.gen, false)
	}
	t.gen.Release()
}

func (m *mapRun) drainLoop(ctx context.Context, t *mapTask) error {
	for {
		m.mu.Lock()
		for ctx.Err() == nil && m.budgetFull() && m.tasks[0] != t {
			m.cond.Wait()
		}
		m.mu.Unlock()
		if ctx.Err() != nil {
			return ctx.Err()
		}
		ref, err := t.gen.Next(ctx)
		if errors.Is(err, ray.ErrEndOfStream) {
			return nil
		}
		if err != nil {
			return err
		}
		metaRef, err := t.gen.Next(ctx)
		if errors.Is(err, ray.ErrEndOfStream) {
			// The stream ended where a block should be: that item holds
			// the task's error.
			if _, gerr := ray.Get(ctx, ref); gerr != nil {
				return m.taskError(gerr)
			}
			return fmt.Errorf("%s: a task's stream ended after a block without its metadata", m.op.name)
		}
		if err != nil {
			return err
		}
		meta, err := getMeta(ctx, metaRef)
		if err != nil {
			return m.taskError(err)
		}
		b := bundle{ref: ref, meta: meta, owned: true}
		if m.pool != nil {
			b.pool = m.pool
			m.pool.made()
		}
		m.mu.Lock()
		t.bundles = append(t.bundles, b)
		m.queued += meta.Bytes
		m.cond.Broadcast()
		m.mu.Unlock()
	}
}

// taskError is a task's failure as the operator reports it.
func (m *mapRun) taskError(err error) error {
	return &OperatorError{Op: m.op.name, Err: err}
}

// OperatorError is the failure of an operator's task.
type OperatorError struct {
	Op  string
	Err error
}

func (e *OperatorError) Error() string { return fmt.Sprintf("operator %s: %v", e.Op, e.Err) }
func (e *OperatorError) Unwrap() error { return e.Err }

// SchemaMismatchError is a read whose files do not share one schema.
type SchemaMismatchError struct {
	File, Schema           string
	FirstFile, FirstSchema string
}

func (e *SchemaMismatchError) Error() string {
	return fmt.Sprintf("file %s has schema {%s}, but file %s has {%s}: the files of a dataset must share one schema",
		e.File, e.Schema, e.FirstFile, e.FirstSchema)
}

// checkFiles compares the schemas of the files a block's task read with
// the first file's.
func (m *mapRun) checkFiles(meta blockMeta) error {
	for _, f := range meta.Files {
		if m.firstFile == "" {
			m.firstFile, m.firstSchema = f.Path, f.Schema
			continue
		}
		if f.Schema != m.firstSchema {
			return &SchemaMismatchError{File: f.Path, Schema: f.Schema, FirstFile: m.firstFile, FirstSchema: m.firstSchema}
		}
	}
	return nil
}

// emit passes the tasks' blocks downstream in input order.
func (m *mapRun) emit(ctx context.Context, out chan<- item) {
	for {
		m.mu.Lock()
		for ctx.Err() == nil && (len(m.tasks) == 0 && !m.inputDone ||
			len(m.tasks) > 0 && len(m.tasks[0].bundles) == 0 && !m.tasks[0].done) {
			m.cond.Wait()
		}
		if ctx.Err() != nil {
			m.mu.Unlock()
			return
		}
		if len(m.tasks) == 0 {
			m.mu.Unlock()
			return
		}
		t := m.tasks[0]
		if len(t.bundles) > 0 {
			b := t.bundles[0]
			t.bundles = t.bundles[1:]
			m.mu.Unlock()
			err := m.checkFiles(b.meta)
			if err == nil {
				m.st.block(b.meta)
				if !send(ctx, out, item{b: b}) {
					return
				}
			}
			m.mu.Lock()
			m.queued -= b.meta.Bytes
			m.cond.Broadcast()
			m.mu.Unlock()
			if err != nil {
				send(ctx, out, item{err: err})
				return
			}
			continue
		}
		err := t.err
		m.tasks = m.tasks[1:]
		m.cond.Broadcast()
		m.mu.Unlock()
		if err != nil {
			send(ctx, out, item{err: err})
			return
		}
		m.st.taskDone()
	}
}
