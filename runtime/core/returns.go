package core

import (
	"fmt"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// How a task's returns end, whatever its kind: one return (named by the
// task id), num_returns > 1 (each element of the slice the function
// returns is its own object, named by ids.Return), or a streaming
// generator (items reported while it runs, see generator.go). Every path
// that finishes or fails a task goes through finishLocked or
// failTaskLocked, so the three kinds cannot drift apart.

// maxNumReturns bounds num_returns: each return is an object in the
// owner's table and an entry in every result message.
const maxNumReturns = 1 << 16

// returnIDs names the n returns of task id: the first is the task id.
func returnIDs(id string, n int) []string {
	out := make([]string, n)
	out[0] = id
	for i := 1; i < n; i++ {
		out[i] = ids.Return(id, i)
	}
	return out
}

// finishLocked records the result an executor sent for a task that will
// not run again.
func (w *Worker) finishLocked(pt *pendingTask, r *rpcpb.TaskResult) []ownership.Action {
	id := pt.spec.TaskId
	w.endRecoveryLocked(id)
	acts := w.releaseArgHoldsLocked(pt)
	switch {
	case pt.gen != nil:
		return append(acts, w.finishGeneratorLocked(pt, r)...)
	case pt.spec.NumReturns >= 1:
		return append(acts, w.table.Complete(id, multiLocations(pt.spec, r))...)
	}
	loc := locationOf(r.Result)
	if err := ValidateContains(r.Result.GetContains()); err != nil {
		// Not a result this runtime sends: nothing in it is adopted.
		loc = ownership.Location{Err: &TaskError{TaskName: pt.spec.Name, Type: "InvalidResult", Message: err.Error()}}
	} else {
		loc.Contains = w.adoptLocked(r.Result.GetContains())
	}
	return append(w.table.CompleteOne(id, id, loc), acts...)
}

// dropResultLocked drops a result the owner does not keep (its task is not
// in flight any more): the holds its executor registered for it go.
func (w *Worker) dropResultLocked(r *rpcpb.TaskResult) []ownership.Action {
	if ValidateContains(r.GetResult().GetContains()) != nil {
		return nil
	}
	return w.table.ReleaseContains(w.adoptLocked(r.GetResult().GetContains()))
}

// multiLocations places each return of a num_returns task: its own
// object, or the task's error (a failure, or an executor that sent the
// wrong number of values) in every one.
func multiLocations(spec *rpcpb.TaskSpec, r *rpcpb.TaskResult) map[string]ownership.Location {
	n := int(spec.NumReturns)
	rets := returnIDs(spec.TaskId, n)
	out := make(map[string]ownership.Location, n)
	first := locationOf(r.Result)
	if first.Err == nil && len(r.MoreReturns) != n-1 {
		first = ownership.Location{Err: &TaskError{TaskName: spec.Name, Type: "NumReturnsMismatch",
			Message: fmt.Sprintf("the executor sent %d returns, num_returns is %d", len(r.MoreReturns)+1, n)}}
	}
	if first.Err != nil {
		for _, id := range rets {
			out[id] = first
		}
		return out
	}
	out[rets[0]] = first
	for i, o := range r.MoreReturns {
		out[rets[i+1]] = locationOf(o)
	}
	return out
}

// failTaskLocked fails a task that will not run again with err: every
// return not ready gets it, and a generator's stream ends with it as its
// next item.
func (w *Worker) failTaskLocked(pt *pendingTask, err error) []ownership.Action {
	w.endRecoveryLocked(pt.spec.TaskId)
	acts := w.releaseArgHoldsLocked(pt)
	if pt.gen != nil {
		acts = append(acts, w.failStreamLocked(pt, err)...)
	}
	return append(acts, w.table.FailTask(pt.spec.TaskId, err)...)
}

// beforeAttemptLocked readies a task's next attempt (a retry, a
// reconstruction): a generator's reports from earlier attempts become
// stale, and the new one skips the items its owner holds.
func (w *Worker) beforeAttemptLocked(pt *pendingTask) {
	if pt.gen != nil {
		w.retryStreamLocked(pt)
	}
}

// Work redone after a failure must not wait behind tasks paused by
// backpressure: a generator paused because its consumer is slow holds its
// worker and resources, the retry (of a task or actor call whose worker or
// node died) or lineage reconstruction (of an object lost with its node)
// may need them, and the consumer may be waiting for that very work (a
// goray Data operator whose next input was lost with its node, while
// another task of the operator before it waits for this one to take its
// blocks). So while any such recovery runs, no generator stream of this
// owner pauses; once the last one finishes, backpressure is back.

// startRecoveryLocked records that task id runs again after a failure.
func (w *Worker) startRecoveryLocked(id string) {
	if w.recovering == nil {
		w.recovering, w.yielding = map[string]bool{}, map[*genState]bool{}
	}
	w.recovering[id] = true
	if len(w.recovering) == 1 {
		for _, pt := range w.pending {
			w.yieldLocked(pt)
		}
	}
	if k, ok := w.table.Task(id); ok {
		w.yieldLocked(k.Spec.(*pendingTask))
	}
}

// endRecoveryLocked records that task id finished (or failed for good);
// after the last reconstruction, streams pause for their consumers again.
func (w *Worker) endRecoveryLocked(id string) {
	if !w.recovering[id] {
		return
	}
	delete(w.recovering, id)
	if len(w.recovering) > 0 {
		return
	}
	for gs := range w.yielding {
		deliver(gs.s.Yield(false))
	}
	clear(w.yielding)
}

// yieldLocked turns backpressure off for pt's stream, if it is a
// generator.
func (w *Worker) yieldLocked(pt *pendingTask) {
	if pt.gen == nil || w.yielding[pt.gen] {
		return
	}
	w.yielding[pt.gen] = true
	deliver(pt.gen.s.Yield(true))
}

// newStreamLocked readies a new generator's stream: it does not pause
// while recoveries run.
func (w *Worker) newStreamLocked(pt *pendingTask) {
	if len(w.recovering) > 0 {
		w.yieldLocked(pt)
	}
}
