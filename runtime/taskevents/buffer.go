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

// DefaultBufferSize is how many events a process holds between two
// reports before it drops (Ray's task_events_max_num_status_events_buffer_on_worker).
const DefaultBufferSize = 100_000

// Event is one transition as a process records it: a value, so recording
// allocates nothing beyond the buffer's growth.
type Event struct {
	TaskID   string
	JobID    string
	Attempt  int32
	Status   Status
	TimeNs   int64
	Info     *rpcpb.TaskInfo // the owner's first event of the task
	NodeID   string          // the executor's RUNNING
	WorkerID string
	PID      int32
	ErrType  string // FAILED
	ErrMsg   string
	StartNs  int64 // the owner's outcome: when the executor started it
}

// Buffer holds events until the next report.
type Buffer struct {
	mu      sync.Mutex
	events  []Event
	spare   []Event // the slice handed out by the last Take, reused
	max     int
	dropped map[string]int64 // per job, since the last Take
	// droppedTotal counts every drop since the start (for metrics).
	droppedTotal atomic.Int64
}

// NewBuffer makes a buffer of at most max events (DefaultBufferSize if max <= 0).
func NewBuffer(max int) *Buffer {
	if max <= 0 {
		max = DefaultBufferSize
	}
	return &Buffer{max: max}
}

// Add records an event, or drops it when the buffer is full. It reports
// whether the event was kept.
func (b *Buffer) Add(e Event) bool {
	b.mu.Lock()
	if len(b.events) >= b.max {
		if b.dropped == nil {
			b.dropped = map[string]int64{}
		}
		b.dropped[e.JobID]++
		b.mu.Unlock()
		b.droppedTotal.Add(1)
		return false
	}
	b.events = append(b.events, e)
	b.mu.Unlock()
	return true
}

// Dropped is the number of events dropped since the buffer was made.
func (b *Buffer) Dropped() int64 { return b.droppedTotal.Load() }

// Len is the number of events waiting.
func (b *Buffer) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.events)
}

// Take removes everything waiting and returns it as a batch (nil when there
// is nothing, not even drops, to report).
func (b *Buffer) Take() *rpcpb.TaskEventBatch {
	b.mu.Lock()
	events, dropped := b.events, b.dropped
	b.events, b.dropped = b.spare[:0], nil
	b.spare = nil
	b.mu.Unlock()
	if len(events) == 0 && len(dropped) == 0 {
		b.giveBack(events)
		return nil
	}
	batch := &rpcpb.TaskEventBatch{Events: make([]*rpcpb.TaskEvent, len(events)), Dropped: dropped}
	pbs := make([]rpcpb.TaskEvent, len(events))
	for i := range events {
		e := &events[i]
		p := &pbs[i]
		p.TaskId, p.JobId, p.Attempt, p.Status, p.TimeNs = e.TaskID, e.JobID, e.Attempt, e.Status, e.TimeNs
		p.Info, p.NodeId, p.WorkerId, p.WorkerPid = e.Info, e.NodeID, e.WorkerID, e.PID
		p.ErrorType, p.ErrorMessage, p.StartTimeNs = e.ErrType, e.ErrMsg, e.StartNs
		batch.Events[i] = p
		*e = Event{} // the strings and Info are the batch's now
	}
	b.giveBack(events)
	return batch
}

// giveBack keeps a drained slice for the next round, so a steady flow of
// events reuses two slices instead of growing new ones.
func (b *Buffer) giveBack(s []Event) {
	b.mu.Lock()
	if b.spare == nil && cap(s) <= b.max {
		b.spare = s[:0]
	}
	b.mu.Unlock()
}

// Requeue puts a batch that could not be sent back in front of what was
// recorded since, as far as there is room; the rest counts as dropped.
func (b *Buffer) Requeue(batch *rpcpb.TaskEventBatch) {
	if batch == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	room := b.max - len(b.events)
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
		b.dropped[p.JobId]++
	}
	b.droppedTotal.Add(int64(len(lost)))
	if len(keep) == 0 {
		return
	}
	merged := make([]Event, 0, len(keep)+len(b.events))
	for _, p := range keep {
		merged = append(merged, Event{TaskID: p.TaskId, JobID: p.JobId, Attempt: p.Attempt, Status: p.Status, TimeNs: p.TimeNs,
			Info: p.Info, NodeID: p.NodeId, WorkerID: p.WorkerId, PID: p.WorkerPid, ErrType: p.ErrorType, ErrMsg: p.ErrorMessage, StartNs: p.StartTimeNs})
	}
	b.events = append(merged, b.events...)
}
