package core

import (
	"context"
	"os"
	"strconv"
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
// with the task's description on its first event; the executor reports
// RUNNING with its node, worker and pid (and, for an actor's constructor,
// which the GCS and not an owner drives, the outcome too). A retry is the
// next attempt number. Recording is an append to the process's buffer.

// eventsEnabled is RAY_task_events_report_interval_ms != 0, as in Ray
// (0 turns task events off); also the interval.
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
	size := 0
	if v, err := strconv.Atoi(os.Getenv("RAY_task_events_max_num_status_events_buffer_on_worker")); err == nil {
		size = v
	}
	w.events = taskevents.NewBuffer(size)
	w.eventsDone = make(chan struct{})
	go func() {
		defer close(w.eventsDone)
		taskevents.Report(ctx, w.events, interval, func(ctx context.Context, b *rpcpb.TaskEventBatch) error {
			_, err := w.gcsRaw.AddTaskEvents(ctx, b)
			return err
		})
	}()
}

// flushEvents sends what the buffer holds now (bounded by a second).
func (w *Worker) flushEvents() {
	if w.events == nil {
		return
	}
	if b := w.events.Take(); b != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := w.gcsRaw.AddTaskEvents(ctx, b); err != nil {
			w.events.Requeue(b)
		}
	}
}

// TaskEventsDropped is how many task events this process dropped because
// its buffer was full (the GCS did not take them fast enough).
func (w *Worker) TaskEventsDropped() int64 {
	if w.events == nil {
		return 0
	}
	return w.events.Dropped()
}

func (w *Worker) event(e taskevents.Event) {
	if w.events == nil {
		return
	}
	e.TimeNs = time.Now().UnixNano()
	w.events.Add(e)
}

// taskInfo describes a task the owner submits, on its first event.
func taskInfo(pt *pendingTask) *rpcpb.TaskInfo {
	info := &rpcpb.TaskInfo{Name: pt.spec.Name, Type: rpcpb.TaskInfo_NORMAL_TASK, RequiredResources: pt.opts.Resources}
	if pt.actor != nil {
		info.Type, info.ActorId = rpcpb.TaskInfo_ACTOR_TASK, pt.spec.ActorId
	}
	if s := pt.opts.Strategy; s != nil && s.Kind == rpcpb.SchedulingStrategy_PLACEMENT_GROUP {
		info.PlacementGroupId = s.PlacementGroupId
	}
	return info
}

// ownerEvent records a transition of a task this process owns; the first
// one carries the task's description.
func (w *Worker) ownerEvent(pt *pendingTask, s taskevents.Status) {
	if w.events == nil {
		return
	}
	e := taskevents.Event{TaskID: pt.spec.TaskId, JobID: pt.spec.JobId, Attempt: pt.spec.Attempt, Status: s}
	w.describe(pt, &e)
	w.event(e)
}

// describe puts the task's description on the first event of each attempt
// (the GCS keeps attempts apart).
func (w *Worker) describe(pt *pendingTask, e *taskevents.Event) {
	if pt.described != pt.spec.Attempt+1 {
		pt.described = pt.spec.Attempt + 1
		e.Info = taskInfo(pt)
	}
}

// described reports whether the current attempt has had its first event.
func (pt *pendingTask) isDescribed() bool { return pt.described == pt.spec.Attempt+1 }

// submittedEvents records SUBMITTED_TO_WORKER for a batch on its way.
func (w *Worker) submittedEvents(pts []*pendingTask) {
	for _, pt := range pts {
		w.ownerEvent(pt, taskevents.SubmittedToWorker)
	}
}

// outcomeEvent records how an attempt ended: FINISHED, or FAILED with the
// error's type in Ray's names.
func (w *Worker) outcomeEvent(pt *pendingTask, err error) {
	if w.events == nil {
		return
	}
	if err == nil {
		w.ownerEvent(pt, taskevents.Finished)
		return
	}
	info := infoFromError(err)
	e := taskevents.Event{TaskID: pt.spec.TaskId, JobID: pt.spec.JobId, Attempt: pt.spec.Attempt, Status: taskevents.Failed,
		ErrType: errorTypeName(info.Kind), ErrMsg: err.Error()}
	w.describe(pt, &e)
	w.event(e)
}

// resultEvent records the outcome an executor sent back, with where it ran
// (the lease's node and worker) and when it started.
func (w *Worker) resultEvent(pt *pendingTask, r *rpcpb.TaskResult, node, worker string, pid int32) {
	if w.events == nil {
		return
	}
	e := taskevents.Event{TaskID: pt.spec.TaskId, JobID: pt.spec.JobId, Attempt: pt.spec.Attempt, Status: taskevents.Finished,
		NodeID: node, WorkerID: worker, PID: pid, StartNs: r.StartTimeNs}
	if r.Result == nil || r.Result.Error != nil {
		err := locationOf(r.Result).Err
		e.Status, e.ErrType, e.ErrMsg = taskevents.Failed, errorTypeName(infoFromError(err).Kind), err.Error()
	}
	w.describe(pt, &e)
	w.event(e)
}

// runningEvent is the executor's RUNNING.
func (w *Worker) runningEvent(spec *rpcpb.TaskSpec, info *rpcpb.TaskInfo) {
	w.event(taskevents.Event{TaskID: spec.TaskId, JobID: spec.JobId, Attempt: spec.Attempt, Status: taskevents.Running,
		Info: info, NodeID: w.nodeID, WorkerID: w.cfg.WorkerID, PID: int32(os.Getpid())})
}

// creationInfo describes an actor's constructor, run as the task
// Class.__init__ as in Ray (the GCS, not an owner, submits it).
func creationInfo(spec *rpcpb.TaskSpec) *rpcpb.TaskInfo {
	return &rpcpb.TaskInfo{Name: spec.Name + ".__init__", Type: rpcpb.TaskInfo_ACTOR_CREATION_TASK, ActorId: spec.ActorId}
}

// creationOutcomeEvent is the executor's report of how a constructor
// ended: nothing else reports it.
func (w *Worker) creationOutcomeEvent(spec *rpcpb.TaskSpec, failure *rpcpb.ErrorInfo) {
	e := taskevents.Event{TaskID: spec.TaskId, JobID: spec.JobId, Attempt: spec.Attempt, Status: taskevents.Finished,
		Info: creationInfo(spec), NodeID: w.nodeID, WorkerID: w.cfg.WorkerID, PID: int32(os.Getpid())}
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
	}
	return "TASK_EXECUTION_EXCEPTION"
}
