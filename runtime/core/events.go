package core

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/taskevents"
)

// Task events (Ray's names, see package taskevents). The owner reports a
// task's way to a worker and its outcome:
//
//	PENDING_ARGS_AVAIL (only while owned arguments are not ready)
//	→ PENDING_NODE_ASSIGNMENT (normal tasks) → SUBMITTED_TO_WORKER → FINISHED | FAILED
//
// with the task's description on its first event and, with the outcome, the
// executor's start (RUNNING) and place. The executor reports RUNNING for a
// task still running at its next report (and, for an actor's constructor,
// which the GCS and not an owner drives, the outcome too). A retry is the
// next attempt number. The owner notes transitions in the task and writes
// them to the process's buffer with the outcome or at the next report;
// the buffer merges an attempt's transitions into one record per report.

// eventsInterval is RAY_task_events_report_interval_ms, and whether task
// events are on (0 turns them off, as in Ray).
func eventsInterval() (time.Duration, bool) {
	v := os.Getenv("RAY_task_events_report_interval_ms")
	if v == "" {
		return taskevents.DefaultReportInterval, true
	}
	ms, err := strconv.Atoi(v)
	if err != nil || ms < 0 {
		return taskevents.DefaultReportInterval, true
	}
	return time.Duration(ms) * time.Millisecond, ms > 0
}

// startEvents makes the buffer and starts reporting it to the GCS.
func (w *Worker) startEvents(ctx context.Context) {
	interval, on := eventsInterval()
	if !on {
		return
	}
	size, _ := strconv.Atoi(os.Getenv("RAY_task_events_max_num_status_events_buffer_on_worker"))
	batch, _ := strconv.Atoi(os.Getenv("RAY_task_events_send_batch_size"))
	w.events = taskevents.NewBuffer(size, batch)
	w.eventsDone = make(chan struct{})
	go func() {
		defer close(w.eventsDone)
		taskevents.Report(ctx, w.events, interval, w.sendEvents, w.beforeReport)
	}()
}

// flushEvents sends everything the buffer holds now (bounded by a second).
func (w *Worker) flushEvents() {
	if w.events == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	taskevents.Flush(ctx, w.events, w.sendEvents, w.beforeReport, true)
}

func (w *Worker) sendEvents(ctx context.Context, b *rpcpb.TaskEventBatch) error {
	if eventsPaused.Load() {
		return errEventsPaused // kept for a report after the pause
	}
	_, err := w.gcsRaw.AddTaskEvents(ctx, b)
	return err
}

// eventsPaused stops this process's task events (PauseTaskEvents).
var eventsPaused atomic.Bool

var errEventsPaused = errors.New("task events paused")

// PauseTaskEvents stops (true) or resumes (false) recording and reporting
// task events in this process; what is buffered stays for the next report.
// It is for measuring what the events cost in one process, alternating
// (`goray microbenchmark --task-events-ab`): a process-wide switch, not a
// setting (RAY_task_events_report_interval_ms=0 turns them off).
func PauseTaskEvents(paused bool) { eventsPaused.Store(paused) }

// recording reports whether task transitions are recorded now.
func (w *Worker) recording() bool { return w.events != nil && !eventsPaused.Load() }

// TaskEventsDropped is how many task attempts lost events in this process because
// its buffer was full (the GCS did not take them fast enough).
func (w *Worker) TaskEventsDropped() int64 {
	if w.events == nil {
		return 0
	}
	return w.events.Dropped()
}

func (w *Worker) event(e taskevents.Event) {
	if !w.recording() {
		return
	}
	if e.TimeNs == 0 {
		e.TimeNs = taskevents.Now()
	}
	w.events.Add(e)
}

// runningTask is a task this process executes: its cancel, and for task
// events what it is, when it started and whether its RUNNING was reported.
type runningTask struct {
	task     *taskContext
	spec     *rpcpb.TaskSpec
	start    time.Time
	reported bool
}

// infoKey names a kind of task: one *TaskInfo per kind, shared by every
// attempt of that kind, so a batch carries it once.
type infoKey struct {
	name, shape, actor, pg string
	typ                    rpcpb.TaskInfo_Type
}

// maxInfos bounds the cache (a program with more kinds of tasks than this
// starts it over).
const maxInfos = 4096

// taskInfo describes a task the owner submits, on its first event.
func (w *Worker) taskInfo(pt *pendingTask) *rpcpb.TaskInfo {
	k := infoKey{name: pt.spec.Name, typ: rpcpb.TaskInfo_NORMAL_TASK}
	if pt.actor != nil {
		k.typ, k.actor = rpcpb.TaskInfo_ACTOR_TASK, pt.spec.ActorId
	} else {
		k.shape = pt.queueKey()
	}
	if s := pt.opts.Strategy; s != nil && s.Kind == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
		k.pg = s.PlacementGroupId
	}
	return w.cachedInfo(k, func() *rpcpb.TaskInfo {
		return &rpcpb.TaskInfo{Name: k.name, Type: k.typ, ActorId: k.actor, RequiredResources: pt.opts.Resources, PlacementGroupId: k.pg}
	})
}

// infoEntry is the description used last: a run of tasks of one kind (the
// common case) finds it without the lock and the map.
type infoEntry struct {
	k    infoKey
	info *rpcpb.TaskInfo
}

func (w *Worker) cachedInfo(k infoKey, build func() *rpcpb.TaskInfo) *rpcpb.TaskInfo {
	if last := w.lastInfo.Load(); last != nil && last.k == k {
		return last.info
	}
	w.infoMu.Lock()
	defer w.infoMu.Unlock()
	info, ok := w.infos[k]
	if !ok {
		if w.infos == nil || len(w.infos) >= maxInfos {
			w.infos = map[infoKey]*rpcpb.TaskInfo{}
		}
		info = build()
		w.infos[k] = info
	}
	w.lastInfo.Store(&infoEntry{k: k, info: info})
	return info
}

func keyOf(spec *rpcpb.TaskSpec) taskevents.Key {
	return taskevents.Key{TaskID: spec.TaskId, Attempt: spec.Attempt}
}

// An owner's transitions before the outcome (PENDING_ARGS_AVAIL,
// PENDING_NODE_ASSIGNMENT, SUBMITTED_TO_WORKER) are noted in the task
// itself: a clock read and a store, no lock. They go into the buffer
// together, with the outcome, or at the next report for a task still on
// its way (writeUnwritten), so most tasks cost the owner one lock and one
// record. Everything here runs under w.mu, like the task's other state.

// ownerNotes are an attempt's transitions noted and not yet written.
type ownerNotes struct {
	attempt  int32
	n        uint8
	statuses [3]taskevents.Status
	times    [3]int64
	// slot is the task's place in w.unwritten (+1; 0: not there).
	slot int
}

// maxUnwritten bounds w.unwritten: an owner whose reports stall (a GCS
// that does not answer) writes its notes at once instead of holding more.
const maxUnwritten = taskevents.DefaultBufferSize

// ownerEvent notes a transition of a task this process owns.
func (w *Worker) ownerEvent(pt *pendingTask, s taskevents.Status) {
	if !w.recording() || w.events.DropIfFull(&pt.ev, pt.spec.JobId, pt.spec.Attempt) {
		return
	}
	w.note(pt, s, taskevents.Now())
}

func (w *Worker) note(pt *pendingTask, s taskevents.Status, t int64) {
	nt := &pt.notes
	if nt.n > 0 && (nt.attempt != pt.spec.Attempt || int(nt.n) == len(nt.statuses)) {
		w.writeNotes(pt) // an earlier attempt's (it ended without an outcome), or a full set
	}
	nt.attempt = pt.spec.Attempt
	nt.statuses[nt.n], nt.times[nt.n] = s, t
	nt.n++
	pt.noted = pt.spec.Attempt + 1
	if nt.slot == 0 {
		w.unwritten = append(w.unwritten, pt)
		nt.slot = len(w.unwritten)
		if len(w.unwritten) >= maxUnwritten {
			w.writeUnwrittenLocked()
		}
	}
}

// hasEvents reports whether the current attempt has had an event.
func (pt *pendingTask) hasEvents() bool { return pt.noted == pt.spec.Attempt+1 }

// run starts the attempt's run of transitions for the buffer: its notes,
// with the task's description if they are the attempt's first.
func (w *Worker) run(pt *pendingTask) taskevents.Run {
	nt := &pt.notes
	r := taskevents.Run{Key: taskevents.Key{TaskID: pt.spec.TaskId, Attempt: pt.spec.Attempt}, JobID: pt.spec.JobId}
	if nt.n > 0 {
		r.Attempt = nt.attempt
		for i := range int(nt.n) {
			r.Append(nt.statuses[i], nt.times[i])
		}
	}
	if pt.described != r.Attempt+1 {
		pt.described = r.Attempt + 1
		if pt.info == nil { // the same for every attempt
			pt.info = w.taskInfo(pt)
		}
		r.Info = pt.info
	}
	w.dropNotes(pt)
	return r
}

// writeNotes puts the task's notes into the buffer alone (an earlier
// attempt's, or a full set).
func (w *Worker) writeNotes(pt *pendingTask) {
	r := w.run(pt)
	w.events.AddRun(&pt.ev, &r)
}

// dropNotes forgets the task's notes (written, or their attempt lost an
// event already) and takes it off the list of tasks to write.
func (w *Worker) dropNotes(pt *pendingTask) {
	pt.notes.n = 0
	if pt.notes.slot != 0 {
		w.unwritten[pt.notes.slot-1] = nil // the list does not keep a finished task
		pt.notes.slot = 0
	}
}

// writeUnwritten runs before each report: the notes of tasks still on
// their way go into the buffer, so the report shows them pending.
func (w *Worker) writeUnwritten() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeUnwrittenLocked()
}

func (w *Worker) writeUnwrittenLocked() {
	list := w.unwritten
	w.unwritten = nil
	if w.events == nil {
		return
	}
	var hs []*taskevents.Handle
	var runs []taskevents.Run
	for _, pt := range list {
		if pt != nil && pt.notes.n > 0 {
			pt.notes.slot = 0
			hs = append(hs, &pt.ev)
			runs = append(runs, w.run(pt))
		}
	}
	w.events.AddRuns(hs, runs)
}

// submittedEvents notes SUBMITTED_TO_WORKER for a batch on its way.
func (w *Worker) submittedEvents(pts []*pendingTask) {
	if !w.recording() {
		return
	}
	now := taskevents.Now()
	for _, pt := range pts {
		if !w.events.DropIfFull(&pt.ev, pt.spec.JobId, pt.spec.Attempt) {
			w.note(pt, taskevents.SubmittedToWorker, now)
		}
	}
}

// outcomeEvent records how an attempt ended without a result from an
// executor: FINISHED, or FAILED with the error's type in Ray's names.
func (w *Worker) outcomeEvent(pt *pendingTask, err error) {
	if !w.recording() {
		return
	}
	if w.events.DropIfFull(&pt.ev, pt.spec.JobId, pt.spec.Attempt) {
		w.dropNotes(pt)
		return
	}
	r := w.outcomeRun(pt)
	status := taskevents.Finished
	if err != nil {
		status, r.ErrType, r.ErrMsg = taskevents.Failed, errorTypeName(infoFromError(err).Kind), err.Error()
	}
	r.Append(status, taskevents.Now())
	w.events.AddRun(&pt.ev, &r)
}

// outcomeRun is the run an outcome ends: the current attempt's notes (an
// earlier attempt's go in alone first).
func (w *Worker) outcomeRun(pt *pendingTask) taskevents.Run {
	if pt.notes.n > 0 && pt.notes.attempt != pt.spec.Attempt {
		w.writeNotes(pt)
	}
	return w.run(pt)
}

// resultEvent records the outcome an executor sent back, with its start
// (RUNNING) and where it ran: the executor's own RUNNING is not sent for a
// task that ended before its report. Both times are the executor's (its
// start, and its start plus how long the task ran), as in Ray, where the
// executor reports them: the owner reads no clock.
func (w *Worker) resultEvent(pt *pendingTask, r *rpcpb.TaskResult, where *rpcpb.TaskWhere) {
	if !w.recording() {
		return
	}
	if w.events.DropIfFull(&pt.ev, pt.spec.JobId, pt.spec.Attempt) {
		w.dropNotes(pt)
		return
	}
	run := w.outcomeRun(pt)
	run.Where = where
	var end int64
	if r.StartTimeNs > 0 {
		run.Append(taskevents.Running, r.StartTimeNs)
		end = r.StartTimeNs + r.ExecMicros*1000
	} else {
		end = taskevents.Now()
	}
	status := taskevents.Finished
	if r.Result == nil || r.Result.Error != nil {
		err := locationOf(r.Result).Err
		status, run.ErrType, run.ErrMsg = taskevents.Failed, errorTypeName(infoFromError(err).Kind), err.Error()
	}
	run.Append(status, end)
	w.events.AddRun(&pt.ev, &run)
}

// runningEvent is an executor's RUNNING.
func (w *Worker) runningEvent(spec *rpcpb.TaskSpec, info *rpcpb.TaskInfo, start time.Time) {
	w.event(taskevents.Event{Key: keyOf(spec), JobID: spec.JobId, Status: taskevents.Running, TimeNs: start.UnixNano(),
		Info: info, Where: w.where})
}

// beforeReport puts what this process noted, as owner and as executor,
// into the buffer.
func (w *Worker) beforeReport() {
	w.writeUnwritten()
	w.reportRunning()
}

// reportRunning runs before each report: the executor's tasks that are
// still running get their RUNNING, once. A task that ends before a report
// costs the executor nothing: its owner reports its start and place with
// the outcome.
func (w *Worker) reportRunning() {
	w.execMu.Lock()
	defer w.execMu.Unlock()
	for id, rt := range w.running {
		if rt.reported || rt.spec == nil {
			continue
		}
		rt.reported = true
		w.running[id] = rt
		w.runningEvent(rt.spec, nil, rt.start)
	}
}

// creationInfo describes an actor's constructor, run as the task
// Class.__init__ as in Ray (the GCS, not an owner, submits it).
func (w *Worker) creationInfo(spec *rpcpb.TaskSpec) *rpcpb.TaskInfo {
	k := infoKey{name: spec.Name + ".__init__", typ: rpcpb.TaskInfo_ACTOR_CREATION_TASK, actor: spec.ActorId}
	return w.cachedInfo(k, func() *rpcpb.TaskInfo {
		return &rpcpb.TaskInfo{Name: k.name, Type: k.typ, ActorId: k.actor}
	})
}

// creationOutcomeEvent is the executor's report of how a constructor
// ended: nothing else reports it.
func (w *Worker) creationOutcomeEvent(spec *rpcpb.TaskSpec, failure *rpcpb.ErrorInfo) {
	e := taskevents.Event{Key: keyOf(spec), JobID: spec.JobId, Status: taskevents.Finished, Info: w.creationInfo(spec), Where: w.where}
	if failure != nil {
		e.Status, e.ErrType, e.ErrMsg = taskevents.Failed, "ACTOR_CREATION_FAILED", failure.Message
	}
	w.event(e)
}

// errorTypeName is Ray's ErrorType name for a failure kind.
func errorTypeName(k rpcpb.ErrorInfo_Kind) string {
	switch k {
	case rpcpb.ErrorInfo_ACTOR_DIED:
		return "ACTOR_DIED"
	case rpcpb.ErrorInfo_OBJECT_LOST:
		return "OBJECT_LOST"
	case rpcpb.ErrorInfo_OWNER_DIED:
		return "OWNER_DIED"
	case rpcpb.ErrorInfo_CANCELLED:
		return "TASK_CANCELLED"
	case rpcpb.ErrorInfo_WORKER_CRASHED:
		return "WORKER_DIED"
	case rpcpb.ErrorInfo_UNSCHEDULABLE:
		return "TASK_UNSCHEDULABLE_ERROR"
	case rpcpb.ErrorInfo_OUT_OF_MEMORY:
		return "OUT_OF_MEMORY"
	}
	return "TASK_EXECUTION_EXCEPTION"
}
