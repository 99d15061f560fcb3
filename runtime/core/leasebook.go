package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// leaseBook is an owner's bookkeeping of one queue's leased workers: which
// ready task goes to which worker and how many may be in flight on one,
// when to ask for another lease, what becomes of in-flight tasks when a
// worker's stream breaks or its node dies, when an idle lease goes back,
// and what a cancellation does. It is pure — events in, actions out, the
// clock and the retry budget passed in, no I/O — so that these rules are
// tested by the scenarios in testdata/leasebook.txt; the Worker (submit.go,
// leases.go) executes the actions: it sends the batches, makes the lease
// calls, returns leases, arms timers and records the outcomes.
//
// Actions are appended to a buffer the caller passes (and reuses): the
// submit path dispatches every task through the book and must not
// allocate for it.
type leaseBook struct {
	ready   []*pendingTask
	workers []*leasedWorker
	// leasing counts the lease requests in flight (at most
	// maxLeaseRequests, and no more than there are tasks to run).
	leasing int
	// relaunch: its lease requests were cancelled because the driver moved
	// to another node; the last one to return asks again.
	relaunch bool
	// closed: the owner is shutting down and asks for no more leases.
	closed bool
	fast   bool // tasks of this shape run in well under a millisecond
	// noFast: never fast — a SPREAD queue (a fast queue pipelines onto
	// one worker and asks for one lease, which would run every task on one
	// node) or a generator queue (see queueKey).
	noFast   bool
	ewmaUs   float64 // average execution time
	sawFirst bool

	// idle is how long a leased worker without work is kept (LeaseIdle).
	idle time.Duration
	// now is the clock (time.Now; the scenarios' own).
	now func() time.Time
	// retry takes one retry of the task's budget, if it has one left (the
	// ownership table's Retry; the scenarios' counts).
	retry func(*pendingTask) bool
}

// leaseAct is one thing the Worker does, in order.
type leaseAct struct {
	kind leaseActKind
	lw   *leasedWorker
	pt   *pendingTask
	// tasks: push's batch (a slice of the ready queue, not to be kept).
	tasks []*pendingTask
	// delay: armIdle's. err: fail's error, retry's cause after a system
	// failure.
	delay time.Duration
	err   error
	// broken: returnLease's lease goes back broken (its worker is
	// killed); retry's attempt follows a system failure (it goes first in
	// the queue and counts as a recovery) rather than a task's error.
	broken bool
}

type leaseActKind uint8

const (
	actPush           leaseActKind = iota // send tasks to lw (now in its in-flight set)
	actRequestLease                       // start one lease request for the queue
	actCancelRequests                     // cancel the queue's lease requests (nothing left to run)
	actArmIdle                            // (re)arm lw's idle timer to fire after delay
	actReturnLease                        // close lw's stream and give its lease back (broken or idle)
	actDropLease                          // close lw's stream: its node no longer holds the lease
	actRetry                              // pt is queued again for its next attempt
	actFail                               // pt fails with err
	actFinish                             // pt's result is its outcome
	actCancelOnWorker                     // ask lw's worker to cancel the running pt
	actDropResult                         // a result for a task not in flight (dropped)
)

func (a leaseAct) String() string {
	switch a.kind {
	case actPush:
		ids := make([]string, len(a.tasks))
		for i, pt := range a.tasks {
			ids[i] = pt.spec.TaskId
		}
		return "push " + a.lw.String() + " " + strings.Join(ids, ",")
	case actRequestLease:
		return "request-lease"
	case actCancelRequests:
		return "cancel-lease-requests"
	case actArmIdle:
		return "arm-idle " + a.lw.String() + " " + a.delay.String()
	case actReturnLease:
		if a.broken {
			return "return " + a.lw.String() + " broken"
		}
		return "return " + a.lw.String() + " idle"
	case actDropLease:
		return "drop " + a.lw.String()
	case actRetry:
		if a.broken {
			return "retry " + a.pt.spec.TaskId + " first after " + errName(a.err)
		}
		return "retry " + a.pt.spec.TaskId + " last"
	case actFail:
		return "fail " + a.pt.spec.TaskId + " " + errName(a.err) + ": " + a.err.Error()
	case actFinish:
		return "finish " + a.pt.spec.TaskId
	case actCancelOnWorker:
		return "cancel-on " + a.lw.String() + " " + a.pt.spec.TaskId
	case actDropResult:
		return "drop-result"
	}
	return "?"
}

// errName is an error's type, as the scenarios show it.
func errName(err error) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", err), "*core.")
}

// String names a leased worker by its lease.
func (lw *leasedWorker) String() string { return lw.lease.GetLeaseId() }

// depth is how many tasks one worker of the queue may have in flight: a
// fast queue pipelines (its worker never waits for the next task), others
// run one at a time (a queued task waits for any free worker, not one).
func (b *leaseBook) depth() int {
	if b.fast {
		return 512
	}
	return 1
}

// dispatch pushes ready tasks to leased workers with room and asks for more
// leases while tasks remain: one per ready task (one for a fast queue, whose
// worker takes them all), at most maxLeaseRequests at a time. With nothing
// left to run, the requests in flight are cancelled.
func (b *leaseBook) dispatch(acts []leaseAct) []leaseAct {
	for _, lw := range b.workers {
		if len(b.ready) == 0 {
			break
		}
		if lw.dead {
			continue
		}
		n := min(b.depth()-len(lw.inflight), len(b.ready))
		if n <= 0 {
			continue
		}
		tasks := b.ready[:n:n]
		for _, pt := range tasks {
			pt.lw = lw
			lw.inflight[pt.spec.TaskId] = pt
		}
		b.ready = b.ready[n:]
		acts = append(acts, leaseAct{kind: actPush, lw: lw, tasks: tasks})
	}
	if len(b.ready) == 0 {
		b.ready = nil
		if b.leasing > 0 {
			acts = append(acts, leaseAct{kind: actCancelRequests})
		}
		return acts
	}
	want := len(b.ready)
	if b.fast {
		want = 1
	}
	for !b.closed && b.leasing < min(want, maxLeaseRequests) {
		b.leasing++
		acts = append(acts, leaseAct{kind: actRequestLease})
	}
	return acts
}

// submit queues a task whose arguments are ready.
func (b *leaseBook) submit(acts []leaseAct, pt *pendingTask) []leaseAct {
	b.ready = append(b.ready, pt)
	return b.dispatch(acts)
}

// granted: a lease request brought a worker whose stream is open.
func (b *leaseBook) granted(acts []leaseAct, lw *leasedWorker) []leaseAct {
	b.workers = append(b.workers, lw)
	acts = b.dispatch(acts)
	return b.maybeIdle(acts, lw)
}

// attachFailed: a lease was granted but its worker's stream could not be
// opened (the Worker returns it broken); the queue asks again.
func (b *leaseBook) attachFailed(acts []leaseAct) []leaseAct {
	return b.dispatch(acts)
}

// leaseDone: a lease request ended (its grant attached or not, the queue
// failed, or it was cancelled). The queue asks again for what still waits:
// a grant attaches (and dispatches) while its request still counts, so
// the request's end is when a replacement can be asked for — else a task
// whose granted worker could not be reached waited for the queue's next
// event, forever if none came. After a move to another node, the last
// request to end asks the new one.
func (b *leaseBook) leaseDone(acts []leaseAct) []leaseAct {
	b.leasing--
	if b.relaunch {
		if b.leasing > 0 {
			return acts
		}
		b.relaunch = false
	}
	return b.dispatch(acts)
}

// relaunchRequests: the driver moved to another node; the requests in
// flight (which may hang on the node left behind) are cancelled and, once
// all have ended, asked of the new one.
func (b *leaseBook) relaunchRequests(acts []leaseAct) []leaseAct {
	if b.leasing == 0 {
		return acts
	}
	b.relaunch = true
	return append(acts, leaseAct{kind: actCancelRequests})
}

// close: the owner shuts down; no more leases are asked for.
func (b *leaseBook) close(acts []leaseAct) []leaseAct {
	b.closed = true
	return append(acts, leaseAct{kind: actCancelRequests})
}

// result: a task's result came back from lw. The queue's average
// execution time decides whether it is fast. A system error (the executor
// could not run it) retries it first in the queue, or fails it; a task
// error its options retry (RetryExceptions, and RetryOn's kinds when it
// has some) queues it again last, unless it was cancelled or is out of
// retries; anything else is its outcome. Dispatching the freed room is
// resultsDone's, once per batch of results.
func (b *leaseBook) result(acts []leaseAct, lw *leasedWorker, id string, o taskOutcome) []leaseAct {
	pt, ok := lw.inflight[id]
	if !ok {
		return append(acts, leaseAct{kind: actDropResult})
	}
	delete(lw.inflight, id)
	if !b.sawFirst {
		b.ewmaUs, b.sawFirst = o.execUs, true
	} else {
		b.ewmaUs = 0.9*b.ewmaUs + 0.1*o.execUs
	}
	b.fast = b.ewmaUs < 1000 && !b.noFast
	if o.sysErr != "" {
		acts, retried := b.retryOrFail(acts, pt, &WorkerCrashedError{TaskName: pt.spec.Name, Message: o.sysErr})
		if retried {
			b.ready = slices.Insert(b.ready, 0, pt)
		}
		return acts
	}
	if o.taskErr && pt.opts.RetryExceptions && !pt.cancelled && (len(pt.spec.RetryOn) == 0 || o.retryable) && b.retry(pt) {
		pt.lw = nil
		b.ready = append(b.ready, pt)
		return append(acts, leaseAct{kind: actRetry, pt: pt, lw: lw})
	}
	return append(acts, leaseAct{kind: actFinish, pt: pt, lw: lw})
}

// taskOutcome is what a result tells the book.
type taskOutcome struct {
	execUs float64
	sysErr string // the executor could not run it
	// taskErr: the task returned an error (retryable: one of its RetryOn
	// kinds).
	taskErr, retryable bool
}

// resultsDone: a batch of results was taken in; the freed room takes ready
// tasks, and a worker left without work starts its idle time.
func (b *leaseBook) resultsDone(acts []leaseAct, lw *leasedWorker) []leaseAct {
	acts = b.dispatch(acts)
	return b.maybeIdle(acts, lw)
}

// retryOrFail: a task's attempt ended by a system failure (cause). A
// cancelled task fails as cancelled; one with a retry left is to go first
// in the queue (it was submitted before what waits there: the caller puts
// it there); else it fails.
func (b *leaseBook) retryOrFail(acts []leaseAct, pt *pendingTask, cause error) ([]leaseAct, bool) {
	pt.lw = nil
	if pt.cancelled {
		return append(acts, leaseAct{kind: actFail, pt: pt, err: &TaskCancelledError{TaskID: pt.spec.TaskId}}), false
	}
	if b.retry(pt) {
		return append(acts, leaseAct{kind: actRetry, pt: pt, err: cause, broken: true}), true
	}
	return append(acts, leaseAct{kind: actFail, pt: pt, err: cause}), false
}

// streamBroken: the task stream to lw broke (its worker died, its node
// died: cause; oom is the node's word that its memory monitor killed the
// worker). Its in-flight tasks are retried or failed, in submission order,
// its lease goes back broken, and the queue dispatches again. A worker
// whose lease went back already (idle, shut down) is left alone.
func (b *leaseBook) streamBroken(acts []leaseAct, lw *leasedWorker, cause error, oom string) []leaseAct {
	if lw.dead {
		return acts
	}
	acts = b.lost(acts, lw, cause, oom)
	acts = append(acts, leaseAct{kind: actReturnLease, lw: lw, broken: true})
	return b.dispatch(acts)
}

// leaseLost: lw's node says it does not hold its lease (the node restarted
// or freed it): as a broken stream, but there is no lease to give back.
func (b *leaseBook) leaseLost(acts []leaseAct, lw *leasedWorker) []leaseAct {
	if lw.dead {
		return acts
	}
	acts = b.lost(acts, lw, fmt.Errorf("lease %s is unknown to its node", lw), "")
	acts = append(acts, leaseAct{kind: actDropLease, lw: lw})
	return b.dispatch(acts)
}

// nodeDead: the nodes died (the GCS says so and they do not answer): each
// leased worker on one is as one whose stream broke.
func (b *leaseBook) nodeDead(acts []leaseAct, dead map[string]bool) []leaseAct {
	for _, lw := range slices.Clone(b.workers) {
		if !lw.dead && dead[lw.lease.GetNodeId()] {
			acts = b.streamBroken(acts, lw, &NodeDiedError{NodeID: lw.lease.GetNodeId()}, "")
		}
	}
	return acts
}

// lost takes a worker out of the queue and retries or fails its in-flight
// tasks.
func (b *leaseBook) lost(acts []leaseAct, lw *leasedWorker, cause error, oom string) []leaseAct {
	b.remove(lw)
	ids := make([]string, 0, len(lw.inflight))
	for id := range lw.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids) // task ids grow with submission
	var again []*pendingTask
	for _, id := range ids {
		pt := lw.inflight[id]
		var failure error = &WorkerCrashedError{TaskName: pt.spec.Name, Message: cause.Error()}
		if oom != "" {
			failure = &OutOfMemoryError{TaskName: pt.spec.Name, Message: oom}
		}
		var retried bool
		if acts, retried = b.retryOrFail(acts, pt, failure); retried {
			again = append(again, pt)
		}
	}
	// The retried tasks go first, in submission order.
	b.ready = slices.Insert(b.ready, 0, again...)
	lw.inflight = nil
	return acts
}

// remove marks lw dead and takes it out of the queue's workers.
func (b *leaseBook) remove(lw *leasedWorker) {
	lw.dead = true
	if i := slices.Index(b.workers, lw); i >= 0 {
		b.workers = slices.Delete(b.workers, i, i+1)
	}
}

// maybeIdle starts lw's idle time when it has nothing to run: its timer is
// armed for the idle timeout.
func (b *leaseBook) maybeIdle(acts []leaseAct, lw *leasedWorker) []leaseAct {
	if lw.dead || len(lw.inflight) > 0 || len(b.ready) > 0 {
		return acts
	}
	lw.idleAt = b.now()
	return append(acts, leaseAct{kind: actArmIdle, lw: lw, delay: b.idle})
}

// idleTick: lw's idle timer fired. A worker that got work since is left
// alone (its next idle moment re-arms the timer); one idle for less than
// the timeout (it went idle again after the timer was armed) waits the
// rest; else its lease goes back.
func (b *leaseBook) idleTick(acts []leaseAct, lw *leasedWorker) []leaseAct {
	if lw.dead || len(lw.inflight) > 0 {
		return acts
	}
	if d := b.idle - b.now().Sub(lw.idleAt); d > 0 {
		return append(acts, leaseAct{kind: actArmIdle, lw: lw, delay: d})
	}
	return b.giveBack(acts, lw)
}

// giveBack returns lw's lease, not broken (idle, or the owner shuts down);
// nothing when it went back already.
func (b *leaseBook) giveBack(acts []leaseAct, lw *leasedWorker) []leaseAct {
	if lw.dead {
		return acts
	}
	b.remove(lw)
	return append(acts, leaseAct{kind: actReturnLease, lw: lw})
}

// cancelTask: the task is cancelled. Queued (or waiting for its arguments) it
// fails at once and never runs; running, its worker is asked to stop it,
// and its outcome comes back as its result (a system failure of a
// cancelled task fails it as cancelled; it is never retried).
func (b *leaseBook) cancelTask(acts []leaseAct, pt *pendingTask) []leaseAct {
	pt.cancelled = true
	if pt.lw != nil {
		return append(acts, leaseAct{kind: actCancelOnWorker, lw: pt.lw, pt: pt})
	}
	if i := slices.Index(b.ready, pt); i >= 0 {
		b.ready = slices.Delete(b.ready, i, i+1)
	}
	return append(acts, leaseAct{kind: actFail, pt: pt, err: &TaskCancelledError{TaskID: pt.spec.TaskId}})
}

// failAll: the queue's tasks can never run here (err); the ready ones fail.
func (b *leaseBook) failAll(acts []leaseAct, err error) []leaseAct {
	for _, pt := range b.ready {
		e := err
		if ue := (*UnschedulableError)(nil); errors.As(err, &ue) {
			e = &UnschedulableError{TaskName: pt.spec.Name, Message: ue.Message}
		}
		acts = append(acts, leaseAct{kind: actFail, pt: pt, err: e})
	}
	b.ready = nil
	return acts
}

// state is the queue's bookkeeping as the scenarios show it.
func (b *leaseBook) state() string {
	var s strings.Builder
	ready := make([]string, len(b.ready))
	for i, pt := range b.ready {
		ready[i] = pt.spec.TaskId
	}
	fmt.Fprintf(&s, "ready=[%s] leasing=%d fast=%v", strings.Join(ready, ","), b.leasing, b.fast)
	for _, lw := range b.workers {
		ids := make([]string, 0, len(lw.inflight))
		for id := range lw.inflight {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		fmt.Fprintf(&s, "\n%s node=%s inflight=[%s]", lw, lw.lease.GetNodeId(), strings.Join(ids, ","))
	}
	return s.String()
}
