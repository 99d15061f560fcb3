// Package taskevents carries task state transitions (Ray's task events) from
// the processes that see them to the GCS, and keeps the GCS's bounded history
// of them for the state API (/api/v0/tasks, `goray list tasks`).
//
// A Buffer lives in every owner and executor: adding an event is an append
// under a mutex, never I/O, and a full buffer drops the event and counts it
// (once per attempt: the attempt's later transitions go too, at no cost),
// so a slow or unreachable GCS never slows a task. A Reporter sends the
// buffer's oldest records, at most a batch of them, once per interval: what
// the GCS takes in is bounded per process whatever the task rate (Ray's
// task_events_send_batch_size). The History, in the GCS, merges the events
// of one task attempt from its owner and its executor and evicts the oldest
// attempts (finished ones first) beyond its bound.
package taskevents

import (
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/goray-dev/goray/runtime/internal/offheap"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Status is a task attempt's status, with Ray's names.
type Status = rpcpb.TaskEvent_Status

// The statuses goray reports.
const (
	PendingArgsAvail      = rpcpb.TaskEvent_PENDING_ARGS_AVAIL
	PendingNodeAssignment = rpcpb.TaskEvent_PENDING_NODE_ASSIGNMENT
	SubmittedToWorker     = rpcpb.TaskEvent_SUBMITTED_TO_WORKER
	Running               = rpcpb.TaskEvent_RUNNING
	Finished              = rpcpb.TaskEvent_FINISHED
	Failed                = rpcpb.TaskEvent_FAILED
)

// DefaultBufferSize is how many task attempts a process holds between two
// reports before it drops (Ray's task_events_max_num_status_events_buffer_on_worker).
const DefaultBufferSize = 100_000

// DefaultSendBatchSize is how many records one report carries at most
// (Ray's task_events_send_batch_size); the rest wait for the next report.
const DefaultSendBatchSize = 10_000

// maxTransitions is how many statuses one record holds; a record that
// fills up is closed and the next status starts a new one.
const maxTransitions = 6

// chunkSize is how many records one piece of the buffer's storage holds:
// the buffer grows and shrinks by chunks, never by copying its records.
const chunkSize = 1024

// spareChunks is how many emptied chunks a buffer keeps for reuse.
const spareChunks = 4

// Key names a task attempt.
type Key struct {
	TaskID  string
	Attempt int32
}

// Event is one transition as a process records it.
type Event struct {
	Key
	JobID  string
	Status Status
	TimeNs int64
	// Info describes the task (the owner's first event of an attempt);
	// processes share one *TaskInfo per kind of task, so a batch carries
	// it once.
	Info *rpcpb.TaskInfo
	// Where is the node, worker and pid it ran in (one value per lease or
	// worker, shared the same way).
	Where   *rpcpb.TaskWhere
	ErrType string // FAILED
	ErrMsg  string
}

// record is what the buffer keeps of one attempt until the next report:
// its transitions coalesce, so a task that is submitted, runs and finishes
// between two reports is one entry on the wire and one merge in the GCS.
// It holds no pointers (strings and descriptions are indexes into the
// buffer's tables): a buffer of 100,000 records is nothing for the garbage
// collector to scan, which it would otherwise do at every cycle of a busy
// owner's heap.
type record struct {
	id       [idCap]byte // the task id, if it fits (else in sides)
	idLen    uint8
	n        uint8
	statuses [maxTransitions]uint8
	side     bool // sides[seq] holds the id or the error
	job      uint16
	attempt  int32
	info     uint32 // 1-based index into infos; 0: none
	where    uint32 // 1-based index into wheres; 0: none
	times    [maxTransitions]int64
}

// idCap is the longest task id a record holds itself (goray's are 28
// characters); a longer one goes to the side table.
const idCap = 32

// side is what a record holds outside itself: rare, so a map.
type side struct {
	taskID          string
	errType, errMsg string
}

// maxInterned bounds each of the buffer's tables (job ids, descriptions,
// places); they start over whenever the buffer is empty. A transition that
// would need a new entry in a full table is dropped and counted.
const maxInterned = 1 << 15

// interned numbers distinct values from 1 (0 is none); lookups of the
// value added last, the common case, skip the map.
type interned[T comparable] struct {
	list  []T
	index map[T]uint32
	last  T
	lastI uint32
}

func (t *interned[T]) id(v T) (uint32, bool) {
	if t.lastI != 0 && v == t.last {
		return t.lastI, true
	}
	i, ok := t.index[v]
	if !ok {
		if len(t.list) >= maxInterned {
			return 0, false
		}
		if t.index == nil {
			t.index = map[T]uint32{}
		}
		t.list = append(t.list, v)
		i = uint32(len(t.list))
		t.index[v] = i
	}
	t.last, t.lastI = v, i
	return i, true
}

func (t *interned[T]) get(i uint32) (v T) {
	if i > 0 && int(i) <= len(t.list) {
		v = t.list[i-1]
	}
	return v
}

func (t *interned[T]) reset() { *t = interned[T]{} }

// Handle is where an attempt's open record is, kept by whoever records its
// transitions (the owner keeps it with the task): merging finds the record
// without a lookup. The zero Handle is none.
type Handle struct {
	seq atomic.Uint64 // the record's sequence number + 1
	// lost is the attempt (+1) whose transitions are dropped: once one
	// was, the rest of that attempt cost nothing (DropIfFull says so
	// without the lock) and the drop is counted once.
	lost atomic.Int32
}

// Buffer holds task transitions until they are reported. Records are
// numbered in the order they were made; a report takes the oldest.
type Buffer struct {
	mu sync.Mutex
	// chunks[i] holds the records numbered from (first+i)*chunkSize.
	chunks [][]record
	first  uint64 // chunk number of chunks[0]
	base   uint64 // number of the oldest record held
	next   uint64 // number of the next record
	spare  [][]record
	// mem holds the chunks, outside the heap: a buffer filling up by
	// megabytes while its process is busy would otherwise make the
	// collector run more often over the rest of the process's heap.
	mem    *offheap.Arena
	max    int
	batch  int
	jobs   interned[string]
	infos  interned[*rpcpb.TaskInfo]
	wheres interned[*rpcpb.TaskWhere]
	sides  map[uint64]side
	// dropped counts, per job, the attempts that lost transitions since the
	// last Take (each once; a requeued record that found no room, once).
	dropped map[string]int64
	// droppedTotal counts every drop since the start (for metrics).
	droppedTotal atomic.Int64
	// full is whether the buffer holds max records: a new attempt's event
	// would be dropped, and DropIfFull spares its caller making it.
	full atomic.Bool
}

// NewBuffer makes a buffer of at most max records (DefaultBufferSize if
// max <= 0) that hands out at most batch of them per Take
// (DefaultSendBatchSize if batch <= 0).
func NewBuffer(max, batch int) *Buffer {
	if max <= 0 {
		max = DefaultBufferSize
	}
	if batch <= 0 {
		batch = DefaultSendBatchSize
	}
	b := &Buffer{max: max, batch: batch, mem: offheap.NewArena()}
	runtime.AddCleanup(b, (*offheap.Arena).Release, b.mem)
	return b
}

// at is the record numbered seq, which the buffer holds.
func (b *Buffer) at(seq uint64) *record {
	return &b.chunks[seq/chunkSize-b.first][seq%chunkSize]
}

// Add records a transition as a record of its own (the GCS merges records
// of one attempt), or drops it when the buffer is full. It reports whether
// it was kept.
func (b *Buffer) Add(e Event) bool {
	var h Handle
	return b.AddAt(&h, e)
}

// AddAt records a transition into the attempt's open record at *h, or a new
// one (and points *h at it), or drops it when the buffer is full. It
// reports whether it was kept.
func (b *Buffer) AddAt(h *Handle, e Event) bool {
	b.mu.Lock()
	kept := b.addLocked(h, &e)
	b.mu.Unlock()
	return kept
}

// Run is transitions of one attempt written together: an owner notes its
// task's transitions in the task and writes them with the outcome (or at
// a report), one lock for all. It is a plain value the caller fills: an
// Event handed through a function value would be allocated on the heap,
// once per transition.
type Run struct {
	Key
	JobID string
	// Info and Where go with the run's first transition, the error with
	// its last.
	Info            *rpcpb.TaskInfo
	Where           *rpcpb.TaskWhere
	ErrType, ErrMsg string
	N               int
	Statuses        [maxTransitions]Status
	Times           [maxTransitions]int64
}

// Append adds a transition to the run; false if the run is full.
func (r *Run) Append(s Status, t int64) bool {
	if r.N == len(r.Statuses) {
		return false
	}
	r.Statuses[r.N], r.Times[r.N] = s, t
	r.N++
	return true
}

// AddRun records the run's transitions into the attempt's open record at
// *h (or a new one), as AddAt does each, under one lock. It reports
// whether all were kept.
func (b *Buffer) AddRun(h *Handle, r *Run) bool {
	b.mu.Lock()
	kept := b.addRunLocked(h, r)
	b.mu.Unlock()
	return kept
}

// AddRuns records runs[i] at hs[i] for each i under one lock.
func (b *Buffer) AddRuns(hs []*Handle, runs []Run) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i := range runs {
		b.addRunLocked(hs[i], &runs[i])
	}
}

func (b *Buffer) addRunLocked(h *Handle, r *Run) bool {
	kept := true
	for i := 0; i < r.N; i++ {
		e := Event{Key: r.Key, JobID: r.JobID, Status: r.Statuses[i], TimeNs: r.Times[i]}
		if i == 0 {
			e.Info, e.Where = r.Info, r.Where
		}
		last := i == r.N-1
		if last {
			e.ErrType, e.ErrMsg = r.ErrType, r.ErrMsg
		}
		if !b.addLocked(h, &e) {
			kept = false
			continue
		}
		// The transitions that fit go straight into the record the first
		// went into: it is this attempt's, as addLocked just checked.
		seq := h.seq.Load() - 1
		rec := b.at(seq)
		// (The last with an error goes through addLocked, which keeps it.)
		for i+1 < r.N && rec.n < maxTransitions && (i+2 < r.N || r.ErrType == "" && r.ErrMsg == "") {
			i++
			rec.statuses[rec.n], rec.times[rec.n] = uint8(r.Statuses[i]), r.Times[i]
			rec.n++
		}
	}
	return kept
}

// DropIfFull reports whether an event of the attempt at h (of job) would
// be dropped, and drops it: the attempt lost a transition already, or it
// has no record and the buffer is full. A busy owner whose reports fall
// behind checks it first, and spares the clock read and description of
// an event that would be dropped anyway.
func (b *Buffer) DropIfFull(h *Handle, job string, attempt int32) bool {
	if h.lost.Load() == attempt+1 {
		return true
	}
	if h.seq.Load() != 0 || !b.full.Load() {
		return false
	}
	b.mu.Lock()
	b.drop(job, 1)
	b.mu.Unlock()
	h.lost.Store(attempt + 1)
	return true
}

func (b *Buffer) addLocked(h *Handle, e *Event) bool {
	if h.lost.Load() == e.Attempt+1 {
		return false // counted when the attempt lost its first
	}
	hseq := h.seq.Load()
	seq, r := hseq-1, (*record)(nil)
	if hseq != 0 && seq >= b.base && seq < b.next {
		if c := b.at(seq); c.n < maxTransitions && c.attempt == e.Attempt && b.taskID(seq, c) == e.TaskID {
			r = c
		}
	}
	var info, where uint32
	ok := true
	if e.Info != nil {
		info, ok = b.infos.id(e.Info)
	}
	if e.Where != nil && ok {
		where, ok = b.wheres.id(e.Where)
	}
	if r == nil && ok {
		var job uint32
		if job, ok = b.jobs.id(e.JobID); ok {
			if seq, r = b.newRecord(); r != nil {
				r.job, r.attempt = uint16(job), e.Attempt
				if len(e.TaskID) <= idCap {
					r.idLen = uint8(copy(r.id[:], e.TaskID))
				} else {
					b.setSide(seq, r, func(s *side) { s.taskID = e.TaskID })
				}
				h.seq.Store(seq + 1)
			}
		}
	}
	if r == nil {
		b.drop(e.JobID, 1)
		h.lost.Store(e.Attempt + 1)
		return false
	}
	r.statuses[r.n], r.times[r.n] = uint8(e.Status), e.TimeNs
	r.n++
	if info != 0 {
		r.info = info
	}
	if where != 0 {
		r.where = where
	}
	if e.ErrType != "" || e.ErrMsg != "" {
		b.setSide(seq, r, func(s *side) { s.errType, s.errMsg = e.ErrType, e.ErrMsg })
	}
	return true
}

// taskID is the id of the record numbered seq.
func (b *Buffer) taskID(seq uint64, r *record) string {
	if r.idLen > 0 || !r.side {
		return string(r.id[:r.idLen])
	}
	return b.sides[seq].taskID
}

func (b *Buffer) setSide(seq uint64, r *record, set func(*side)) {
	if b.sides == nil {
		b.sides = map[uint64]side{}
	}
	s := b.sides[seq]
	set(&s)
	b.sides[seq] = s
	r.side = true
}

// newRecord appends an empty record, or returns nil when the buffer is full.
func (b *Buffer) newRecord() (uint64, *record) {
	if b.next-b.base >= uint64(b.max) {
		b.full.Store(true)
		return 0, nil
	}
	if len(b.chunks) == 0 {
		b.first = b.next / chunkSize
	}
	if b.next/chunkSize-b.first == uint64(len(b.chunks)) { // the last chunk is full
		var c []record
		if n := len(b.spare); n > 0 {
			c, b.spare = b.spare[n-1], b.spare[:n-1]
		} else {
			c = offheap.Make[record](b.mem, chunkSize)
		}
		b.chunks = append(b.chunks, c)
	}
	seq := b.next
	b.next++
	return seq, b.at(seq)
}

func (b *Buffer) drop(job string, n int64) {
	if b.dropped == nil {
		b.dropped = map[string]int64{}
	}
	b.dropped[job] += n
	b.droppedTotal.Add(n)
}

// Dropped is the number of drops (attempts that lost transitions, each
// counted once) since the buffer was made.
func (b *Buffer) Dropped() int64 { return b.droppedTotal.Load() }

// Len is the number of records waiting.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int(b.next - b.base)
}

// Take removes the oldest records, at most the buffer's batch size, and
// returns them as a batch with the drop counts since the last Take (nil
// when there is nothing, not even drops, to report). Descriptions and
// places shared by several records are sent once.
func (b *Buffer) Take() *rpcpb.TaskEventBatch {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int(min(b.next-b.base, uint64(b.batch)))
	dropped := b.dropped
	b.dropped = nil
	if n == 0 && len(dropped) == 0 {
		return nil
	}
	batch := &rpcpb.TaskEventBatch{Events: make([]*rpcpb.TaskEvent, n), Dropped: dropped}
	if n == 0 {
		return batch
	}
	batch.JobId = b.jobs.get(uint32(b.at(b.base).job))
	// The batch's own numbering of the descriptions and places it carries.
	infos, wheres := map[uint32]int32{}, map[uint32]int32{}
	pbs := make([]rpcpb.TaskEvent, n)
	total, idBytes := 0, 0
	for i := range n {
		r := b.at(b.base + uint64(i))
		total += int(r.n)
		idBytes += int(r.idLen)
	}
	// One backing array for every record's statuses and times, and one
	// string for their ids.
	allStatuses, allTimes := make([]Status, 0, total), make([]int64, 0, total)
	var ids strings.Builder
	ids.Grow(idBytes)
	for i := range n {
		r := b.at(b.base + uint64(i))
		ids.Write(r.id[:r.idLen])
	}
	allIDs, idAt := ids.String(), 0
	for i := range n {
		seq := b.base + uint64(i)
		r := b.at(seq)
		p := &pbs[i]
		p.TaskId, p.Attempt = allIDs[idAt:idAt+int(r.idLen)], r.attempt
		idAt += int(r.idLen)
		if r.side {
			sd := b.sides[seq]
			delete(b.sides, seq)
			if r.idLen == 0 {
				p.TaskId = sd.taskID
			}
			p.ErrorType, p.ErrorMessage = sd.errType, sd.errMsg
		}
		if job := b.jobs.get(uint32(r.job)); job != batch.JobId {
			p.JobId = job
		}
		at := len(allStatuses)
		for _, st := range r.statuses[:r.n] {
			allStatuses = append(allStatuses, Status(st))
		}
		allTimes = append(allTimes, r.times[:r.n]...)
		p.Statuses, p.TimesNs = allStatuses[at:len(allStatuses):len(allStatuses)], allTimes[at:len(allTimes):len(allTimes)]
		if r.info != 0 {
			if p.Info = infos[r.info]; p.Info == 0 {
				batch.Infos = append(batch.Infos, b.infos.get(r.info))
				p.Info = int32(len(batch.Infos))
				infos[r.info] = p.Info
			}
		}
		if r.where != 0 {
			if p.Where = wheres[r.where]; p.Where == 0 {
				batch.Wheres = append(batch.Wheres, b.wheres.get(r.where))
				p.Where = int32(len(batch.Wheres))
				wheres[r.where] = p.Where
			}
		}
		batch.Events[i] = p
		*r = record{}
	}
	b.base += uint64(n)
	b.full.Store(false)
	b.releaseChunks()
	return batch
}

// releaseChunks drops the chunks every record of which has been taken,
// keeping a few for reuse: a steady flow recycles them, an idle process
// gives the rest back to the system.
func (b *Buffer) releaseChunks() {
	done := 0
	for done < len(b.chunks) && (b.first+uint64(done)+1)*chunkSize <= b.base {
		done++
	}
	for _, c := range b.chunks[:done] {
		b.recycle(c)
	}
	b.chunks = append(b.chunks[:0], b.chunks[done:]...)
	b.first += uint64(done)
	if b.base == b.next {
		// Empty: the next record starts a chunk of its own wherever it is,
		// and the tables start over (no record refers to them).
		for _, c := range b.chunks {
			clear(c)
			b.recycle(c)
		}
		b.chunks = b.chunks[:0]
		b.next = (b.next + chunkSize - 1) / chunkSize * chunkSize
		b.base = b.next
		b.jobs.reset()
		b.infos.reset()
		b.wheres.reset()
		b.sides = nil
	}
}

// recycle keeps an emptied chunk for reuse, or frees it if there are
// spares enough.
func (b *Buffer) recycle(c []record) {
	if len(b.spare) < spareChunks {
		b.spare = append(b.spare, c)
		return
	}
	offheap.Free(b.mem, c)
}

// Requeue puts a batch that could not be sent back at the end, as far as
// there is room; the rest counts as dropped. Its records are closed: new
// transitions of the same attempts start new ones (the GCS merges them).
func (b *Buffer) Requeue(batch *rpcpb.TaskEventBatch) {
	if batch == nil {
		return
	}
	b.mu.Lock()
	for job, n := range batch.Dropped {
		if b.dropped == nil {
			b.dropped = map[string]int64{}
		}
		b.dropped[job] += n
	}
	b.mu.Unlock()
	for _, p := range batch.Events {
		var h Handle
		for i, st := range p.Statuses {
			e := Event{Key: Key{p.TaskId, p.Attempt}, JobID: jobOf(batch, p), Status: st}
			if i < len(p.TimesNs) {
				e.TimeNs = p.TimesNs[i]
			}
			if i == 0 {
				e.Info, e.Where = indexed(batch.Infos, p.Info), indexed(batch.Wheres, p.Where)
				e.ErrType, e.ErrMsg = p.ErrorType, p.ErrorMessage
			}
			b.AddAt(&h, e) // or counted as dropped
		}
	}
}

func jobOf(batch *rpcpb.TaskEventBatch, e *rpcpb.TaskEvent) string {
	if e.JobId != "" {
		return e.JobId
	}
	return batch.JobId
}

// indexed is list[i-1], or nil for 0 or an index out of range (a batch is
// outside input to the GCS).
func indexed[T any](list []*T, i int32) *T {
	if i <= 0 || int(i) > len(list) {
		return nil
	}
	return list[i-1]
}
