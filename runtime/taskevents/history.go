package taskevents

import (
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// DefaultHistorySize is how many task attempts the GCS keeps (Ray's
// task_events_max_num_task_in_gcs).
const DefaultHistorySize = 100_000

// The error types the history gives attempts it ends itself, Ray's names.
const (
	ErrNodeDied   = "NODE_DIED"
	ErrWorkerDied = "WORKER_DIED"
)

type attemptKey struct {
	task    string
	attempt int32
}

// attempt is one task attempt as the history holds it.
type attempt struct {
	key      attemptKey
	jobID    string
	info     *rpcpb.TaskInfo
	nodeID   string
	workerID string
	pid      int32
	errType  string
	errMsg   string
	times    [rpcpb.TaskEvent_FAILED + 1]int64 // by status; 0: not seen
	// Links of the history's two lists, kept in the attempt itself: no
	// allocation per list entry (100,000 attempts, each reported once).
	all   links // every attempt, in creation order
	done  links // ended attempts, in the order they ended
	ended bool  // in the done list
}

// links are an attempt's neighbours in one of the history's lists.
type links struct{ prev, next *attempt }

// chain is a doubly linked list of attempts through one of their links.
type chain struct {
	head, tail *attempt
	n          int
	of         func(*attempt) *links
}

func (c *chain) pushBack(a *attempt) {
	l := c.of(a)
	l.prev, l.next = c.tail, nil
	if c.tail != nil {
		c.of(c.tail).next = a
	} else {
		c.head = a
	}
	c.tail = a
	c.n++
}

func (c *chain) remove(a *attempt) {
	l := c.of(a)
	if l.prev != nil {
		c.of(l.prev).next = l.next
	} else {
		c.head = l.next
	}
	if l.next != nil {
		c.of(l.next).prev = l.prev
	} else {
		c.tail = l.prev
	}
	l.prev, l.next = nil, nil
	c.n--
}

// state is the attempt's current status: its outcome once it has one (a
// failure wins: the owner's FAILED after the executor's FINISHED means the
// result was lost), else the furthest status seen. The furthest, not the
// latest by time: owner and executor clocks differ.
func (a *attempt) state() Status {
	switch {
	case a.times[Failed] != 0:
		return Failed
	case a.times[Finished] != 0:
		return Finished
	}
	for s := Finished - 1; s > 0; s-- {
		if a.times[s] != 0 {
			return s
		}
	}
	return rpcpb.TaskEvent_NIL
}

func (a *attempt) terminal() bool { return a.times[Failed] != 0 || a.times[Finished] != 0 }

// History is the GCS's bounded record of task attempts. It is not safe for
// concurrent use: the GCS serialises calls.
type History struct {
	max      int
	attempts map[attemptKey]*attempt
	all      chain // every attempt, oldest first
	done     chain // finished and failed attempts, in the order they ended
	dropped  map[string]int64
}

// NewHistory keeps at most max attempts (DefaultHistorySize if max <= 0).
func NewHistory(max int) *History {
	if max <= 0 {
		max = DefaultHistorySize
	}
	return &History{max: max, attempts: map[attemptKey]*attempt{}, dropped: map[string]int64{},
		all:  chain{of: func(a *attempt) *links { return &a.all }},
		done: chain{of: func(a *attempt) *links { return &a.done }}}
}

// Len is the number of attempts held.
func (h *History) Len() int { return len(h.attempts) }

// Dropped is the number of events and attempts lost for job ("" for all
// jobs): dropped by full buffers or evicted from the history.
func (h *History) Dropped(job string) int64 {
	if job != "" {
		return h.dropped[job]
	}
	var n int64
	for _, d := range h.dropped {
		n += d
	}
	return n
}

// Add merges a batch into the history and returns the attempts it was the
// first to bring to FAILED (the GCS makes cluster events of them).
func (h *History) Add(batch *rpcpb.TaskEventBatch) []*rpcpb.TaskState {
	for job, n := range batch.GetDropped() {
		if n > 0 {
			h.dropped[job] += n
		}
	}
	var failed []*rpcpb.TaskState
	for _, e := range batch.GetEvents() {
		if a := h.add(batch, e); a != nil {
			failed = append(failed, a.toProto())
		}
	}
	return failed
}

// add merges one record; it returns the attempt if the record failed it.
func (h *History) add(batch *rpcpb.TaskEventBatch, e *rpcpb.TaskEvent) *attempt {
	if e.TaskId == "" || len(e.Statuses) == 0 {
		return nil
	}
	a := h.get(attemptKey{e.TaskId, e.Attempt}, jobOf(batch, e))
	wasFailed := a.times[Failed] != 0
	if info := indexed(batch.Infos, e.Info); info != nil && a.info == nil {
		a.info = info
	}
	running := false
	for i, st := range e.Statuses {
		if st <= rpcpb.TaskEvent_NIL || st > Failed {
			continue
		}
		running = running || st == Running
		t := int64(1) // seen, time unknown
		if i < len(e.TimesNs) && e.TimesNs[i] > 0 {
			t = e.TimesNs[i]
		}
		if a.times[st] == 0 || t < a.times[st] {
			a.times[st] = t
		}
	}
	if w := indexed(batch.Wheres, e.Where); w != nil && w.NodeId != "" && (a.nodeID == "" || running) {
		a.nodeID, a.workerID = w.NodeId, w.WorkerId
		if w.WorkerPid != 0 {
			a.pid = w.WorkerPid
		}
	}
	if e.ErrorType != "" || e.ErrorMessage != "" {
		a.errType, a.errMsg = e.ErrorType, e.ErrorMessage
	}
	h.markDone(a)
	if !wasFailed && a.times[Failed] != 0 {
		return a
	}
	return nil
}

// get returns the attempt, making it (and evicting beyond the bound) if new.
func (h *History) get(k attemptKey, job string) *attempt {
	if a, ok := h.attempts[k]; ok {
		if a.jobID == "" {
			a.jobID = job
		}
		return a
	}
	for len(h.attempts) >= h.max {
		h.evict()
	}
	a := &attempt{key: k, jobID: job}
	h.all.pushBack(a)
	h.attempts[k] = a
	return a
}

func (h *History) markDone(a *attempt) {
	if !a.ended && a.terminal() {
		a.ended = true
		h.done.pushBack(a)
	}
}

// evict removes the attempt that ended first, or the oldest when none has
// ended, and counts it as dropped for its job.
func (h *History) evict() {
	var a *attempt
	switch {
	case h.done.head != nil:
		a = h.done.head
	case h.all.head != nil:
		a = h.all.head
	default:
		return
	}
	h.all.remove(a)
	if a.ended {
		h.done.remove(a)
	}
	delete(h.attempts, a.key)
	h.dropped[a.jobID]++
}

// JobFinished ends the attempts of job that have no outcome: they can no
// longer finish (Ray marks them failed the same way).
func (h *History) JobFinished(job string, timeNs int64) {
	h.failWhere(func(a *attempt) bool { return a.jobID == job }, timeNs, ErrWorkerDied,
		"the job finished before the task did")
}

// NodeDied fails the attempts that were running on node.
func (h *History) NodeDied(node string, timeNs int64) {
	h.failWhere(func(a *attempt) bool { return a.nodeID == node }, timeNs, ErrNodeDied,
		"the node running the task died ("+node+")")
}

// WorkerDied fails the attempts that were running in worker.
func (h *History) WorkerDied(worker, cause string, timeNs int64) {
	h.failWhere(func(a *attempt) bool { return a.workerID == worker }, timeNs, ErrWorkerDied,
		"the worker running the task died: "+cause)
}

func (h *History) failWhere(match func(*attempt) bool, timeNs int64, errType, msg string) {
	if timeNs <= 0 {
		timeNs = 1
	}
	for a := h.all.head; a != nil; a = a.all.next {
		if a.terminal() || !match(a) {
			continue
		}
		a.times[Failed] = timeNs
		if a.errType == "" {
			a.errType, a.errMsg = errType, msg
		}
		h.markDone(a)
	}
}
