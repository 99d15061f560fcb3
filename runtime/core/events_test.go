package core

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/taskevents"
)

func eventsWorker() *Worker {
	return &Worker{events: taskevents.NewBuffer(0, 0), where: &rpcpb.TaskWhere{NodeId: "n1"}}
}

func ownedTask(id string) *pendingTask {
	return &pendingTask{spec: &rpcpb.TaskSpec{TaskId: id, JobId: "01000000", Name: "pkg.f"},
		opts: TaskOptions{Resources: map[string]float64{"CPU": 1}}}
}

// An attempt that ends before a report is one record: the owner's notes,
// the executor's start and its outcome, at the executor's times.
func TestOwnerNotesGoInWithTheOutcome(t *testing.T) {
	w := eventsWorker()
	pt := ownedTask("t1")
	w.mu.Lock()
	w.ownerEvent(pt, taskevents.PendingNodeAssignment)
	w.submittedEvents([]*pendingTask{pt})
	if n := w.events.Len(); n != 0 {
		t.Fatalf("the buffer holds %d records before the outcome; notes stay in the task", n)
	}
	w.resultEvent(pt, &rpcpb.TaskResult{TaskId: "t1", StartTimeNs: 5_000, ExecMicros: 7, Result: &rpcpb.Object{Data: []byte("x")}}, w.where)
	w.mu.Unlock()
	b := w.events.Take()
	if b == nil || len(b.Events) != 1 {
		t.Fatalf("batch %v, want one record", b)
	}
	e := b.Events[0]
	want := []taskevents.Status{taskevents.PendingNodeAssignment, taskevents.SubmittedToWorker, taskevents.Running, taskevents.Finished}
	if !slices.Equal(e.Statuses, want) {
		t.Fatalf("statuses %v, want %v", e.Statuses, want)
	}
	if e.TimesNs[2] != 5_000 || e.TimesNs[3] != 12_000 {
		t.Fatalf("RUNNING at %d and FINISHED at %d, want the executor's 5000 and 5000+7µs", e.TimesNs[2], e.TimesNs[3])
	}
	if e.Info == 0 || b.Infos[e.Info-1].GetName() != "pkg.f" {
		t.Fatalf("the record does not carry the task's description: %v", e)
	}
	if len(w.unwritten) != 1 || w.unwritten[0] != nil {
		t.Fatalf("the written task is still listed: %v", w.unwritten)
	}
}

// A task still on its way at a report is in it, pending; its outcome
// comes in a later report.
func TestOwnerNotesGoInAtTheReport(t *testing.T) {
	w := eventsWorker()
	pt := ownedTask("t2")
	w.mu.Lock()
	w.ownerEvent(pt, taskevents.PendingNodeAssignment)
	w.mu.Unlock()
	w.beforeReport()
	b := w.events.Take()
	if b == nil || len(b.Events) != 1 || !slices.Equal(b.Events[0].Statuses, []taskevents.Status{taskevents.PendingNodeAssignment}) {
		t.Fatalf("first report %v, want the pending task", b)
	}
	w.mu.Lock()
	w.outcomeEvent(pt, errors.New("boom"))
	w.mu.Unlock()
	b = w.events.Take()
	if b == nil || len(b.Events) != 1 || !slices.Equal(b.Events[0].Statuses, []taskevents.Status{taskevents.Failed}) || b.Events[0].ErrorMessage != "boom" {
		t.Fatalf("second report %v, want the failure alone", b)
	}
	if b.Events[0].Info != 0 {
		t.Fatal("the description was sent twice for one attempt")
	}
}

// A retry's notes are the next attempt's: the earlier attempt's notes
// are written under its own number first.
func TestOwnerNotesKeepAttemptsApart(t *testing.T) {
	w := eventsWorker()
	pt := ownedTask("t3")
	w.mu.Lock()
	w.ownerEvent(pt, taskevents.PendingNodeAssignment)
	w.submittedEvents([]*pendingTask{pt})
	pt.spec.Attempt++ // an actor's death retries without an outcome
	w.submittedEvents([]*pendingTask{pt})
	w.mu.Unlock()
	w.beforeReport()
	b := w.events.Take()
	if b == nil || len(b.Events) != 2 {
		t.Fatalf("batch %v, want a record per attempt", b)
	}
	if a0, a1 := b.Events[0], b.Events[1]; a0.Attempt != 0 || len(a0.Statuses) != 2 || a1.Attempt != 1 ||
		!slices.Equal(a1.Statuses, []taskevents.Status{taskevents.SubmittedToWorker}) || a1.Info == 0 {
		t.Fatalf("records %v and %v", a0, a1)
	}
}

// With events paused nothing is noted or kept.
func TestOwnerNotesOff(t *testing.T) {
	w := eventsWorker()
	PauseTaskEvents(true)
	defer PauseTaskEvents(false)
	pt := ownedTask("t4")
	w.mu.Lock()
	w.ownerEvent(pt, taskevents.PendingNodeAssignment)
	w.mu.Unlock()
	if pt.notes.n != 0 || len(w.unwritten) != 0 {
		t.Fatalf("noted %d, listed %d with events paused", pt.notes.n, len(w.unwritten))
	}
}

// BenchmarkOwnerTaskEvents is what task events cost an owner per task
// of a busy stream of normal tasks: PENDING_NODE_ASSIGNMENT at submit,
// SUBMITTED_TO_WORKER for a batch of 64, the executor's result, and a
// report of at most a batch every 10,000 tasks (as at 10,000 tasks a
// second with one report a second).
func BenchmarkOwnerTaskEvents(b *testing.B) {
	w := eventsWorker()
	pts := make([]*pendingTask, 64)
	for i := range pts {
		pts[i] = ownedTask(fmt.Sprintf("%012x%016x", 0xb3fdb24ce4b7, i))
	}
	res := &rpcpb.TaskResult{StartTimeNs: 1, ExecMicros: 3, Result: &rpcpb.Object{Data: []byte("x")}}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		pt := pts[i%len(pts)]
		pt.spec.Attempt++ // a fresh attempt each time round
		w.mu.Lock()
		w.ownerEvent(pt, taskevents.PendingNodeAssignment)
		if i%len(pts) == len(pts)-1 {
			w.submittedEvents(pts)
			for _, p := range pts {
				w.resultEvent(p, res, w.where)
			}
		}
		w.mu.Unlock()
		if i%10_000 == 9_999 {
			w.beforeReport()
			w.events.Take()
		}
	}
}
