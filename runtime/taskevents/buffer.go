// Package taskevents carries task state transitions (Ray's task events) from
// the processes that see them to the GCS, and keeps the GCS's bounded history
// of them for the state API (/api/v0/tasks, `goray list tasks`).
//
// A Buffer lives in every owner and executor: adding an event is an append
// under a mutex, never I/O, and a full buffer drops the event and counts it,
// so a slow or unreachable GCS never slows a task. A Reporter sends the
// buffer's contents in one batch per interval. The History, in the GCS, merges
// the events of one task attempt from its owner and its executor and evicts
// the oldest attempts (finished ones first) beyond its bound.
package taskevents

import (
	"sync"
	"sync/atomic"

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

// maxTransitions is how many statuses one record holds; a record that
// fills up is closed and the next status starts a new one.
const maxTransitions = 6

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
type record struct {
	key      Key
	jobID    string
	info     *rpcpb.TaskInfo
	where    *rpcpb.TaskWhere
	errType  string
	errMsg   string
	n        int
	statuses [maxTransitions]Status
	times    [maxTransitions]int64
}

// Handle is where an attempt's open record is, kept by whoever records its
// transitions (the owner keeps it with the task): merging finds the record
// without a lookup. The zero Handle is none.
type Handle struct {
	gen uint64
	idx int32
}

// Buffer holds task transitions until the next report.
type Buffer struct {
	mu      sync.Mutex
	recs    []record
	gen     uint64   // counts Takes: a Handle from before the last one is stale
	spare   []record // the slice handed out by the last Take, reused
	max     int
	dropped map[string]int64 // per job, since the last Take
	// droppedTotal counts every drop since the start (for metrics).
	droppedTotal atomic.Int64
}

// NewBuffer makes a buffer of at most max records (DefaultBufferSize if max <= 0).
func NewBuffer(max int) *Buffer {
	if max <= 0 {
		max = DefaultBufferSize
	}
	return &Buffer{max: max, gen: 1}
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
	var r *record
	if h.gen == b.gen && int(h.idx) < len(b.recs) {
		if c := &b.recs[h.idx]; c.key == e.Key && c.n < maxTransitions {
			r = c
		}
	}
	if r == nil {
		if len(b.recs) >= b.max {
			if b.dropped == nil {
				b.dropped = map[string]int64{}
			}
			b.dropped[e.JobID]++
			b.mu.Unlock()
			b.droppedTotal.Add(1)
			return false
		}
		b.recs = append(b.recs, record{key: e.Key, jobID: e.JobID})
		h.gen, h.idx = b.gen, int32(len(b.recs)-1)
		r = &b.recs[h.idx]
	}
	r.statuses[r.n], r.times[r.n] = e.Status, e.TimeNs
	r.n++
	if e.Info != nil {
		r.info = e.Info
	}
	if e.Where != nil {
		r.where = e.Where
	}
	if e.ErrType != "" || e.ErrMsg != "" {
		r.errType, r.errMsg = e.ErrType, e.ErrMsg
	}
	b.mu.Unlock()
	return true
}

// Dropped is the number of transitions dropped since the buffer was made.
func (b *Buffer) Dropped() int64 { return b.droppedTotal.Load() }

// Len is the number of records waiting.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.recs)
}

// Take removes everything waiting and returns it as a batch (nil when there
// is nothing, not even drops, to report). Descriptions and places shared by
// several records are sent once.
func (b *Buffer) Take() *rpcpb.TaskEventBatch {
	b.mu.Lock()
	recs, dropped := b.recs, b.dropped
	b.recs, b.dropped = b.spare[:0], nil
	b.spare = nil
	b.gen++
	b.mu.Unlock()
	if len(recs) == 0 && len(dropped) == 0 {
		b.giveBack(recs)
		return nil
	}
	batch := &rpcpb.TaskEventBatch{Events: make([]*rpcpb.TaskEvent, len(recs)), Dropped: dropped}
	if len(recs) > 0 {
		batch.JobId = recs[0].jobID
	}
	infos := map[*rpcpb.TaskInfo]int32{}
	wheres := map[*rpcpb.TaskWhere]int32{}
	pbs := make([]rpcpb.TaskEvent, len(recs))
	total := 0
	for i := range recs {
		total += recs[i].n
	}
	// One backing array for every record's statuses and times.
	allStatuses, allTimes := make([]Status, 0, total), make([]int64, 0, total)
	for i := range recs {
		r := &recs[i]
		p := &pbs[i]
		p.TaskId, p.Attempt, p.ErrorType, p.ErrorMessage = r.key.TaskID, r.key.Attempt, r.errType, r.errMsg
		if r.jobID != batch.JobId {
			p.JobId = r.jobID
		}
		at := len(allStatuses)
		allStatuses, allTimes = append(allStatuses, r.statuses[:r.n]...), append(allTimes, r.times[:r.n]...)
		p.Statuses, p.TimesNs = allStatuses[at:len(allStatuses):len(allStatuses)], allTimes[at:len(allTimes):len(allTimes)]
		if r.info != nil {
			if p.Info = infos[r.info]; p.Info == 0 {
				batch.Infos = append(batch.Infos, r.info)
				p.Info = int32(len(batch.Infos))
				infos[r.info] = p.Info
			}
		}
		if r.where != nil {
			if p.Where = wheres[r.where]; p.Where == 0 {
				batch.Wheres = append(batch.Wheres, r.where)
				p.Where = int32(len(batch.Wheres))
				wheres[r.where] = p.Where
			}
		}
		batch.Events[i] = p
		*r = record{} // the strings and pointers are the batch's now
	}
	b.giveBack(recs)
	return batch
}

// giveBack keeps a drained slice for the next round, so a steady flow
// reuses two slices instead of growing new ones.
func (b *Buffer) giveBack(s []record) {
	b.mu.Lock()
	if b.spare == nil && cap(s) <= b.max {
		b.spare = s[:0]
	}
	b.mu.Unlock()
}

// Requeue puts a batch that could not be sent back, as far as there is
// room next to what was recorded since; the rest counts as dropped. Its
// records stay closed: new transitions of the same attempts start new ones
// (the GCS merges them all).
func (b *Buffer) Requeue(batch *rpcpb.TaskEventBatch) {
	if batch == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.recs)
	keep := batch.Events
	if len(keep) > room {
		keep = keep[len(keep)-max(room, 0):]
	}
	if b.dropped == nil && (len(batch.Dropped) > 0 || len(keep) < len(batch.Events)) {
		b.dropped = map[string]int64{}
	}
	for job, n := range batch.Dropped {
		b.dropped[job] += n
	}
	lost := batch.Events[:len(batch.Events)-len(keep)]
	for _, p := range lost {
		b.dropped[jobOf(batch, p)]++
	}
	b.droppedTotal.Add(int64(len(lost)))
	if len(keep) == 0 {
		return
	}
	merged := make([]record, 0, len(keep)+len(b.recs))
	for _, p := range keep {
		r := record{key: Key{p.TaskId, p.Attempt}, jobID: jobOf(batch, p), errType: p.ErrorType, errMsg: p.ErrorMessage,
			info: indexed(batch.Infos, p.Info), where: indexed(batch.Wheres, p.Where)}
		r.n = copy(r.statuses[:], p.Statuses)
		copy(r.times[:], p.TimesNs)
		merged = append(merged, r)
	}
	// The requeued records are closed, and so are those recorded since
	// (their handles no longer match): new transitions start new records.
	b.recs = append(merged, b.recs...)
	b.gen++
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
