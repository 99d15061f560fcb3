package core

import (
	"context"
	"sync"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A worker running a normal task tells its node when it waits for objects
// (a Get of an object not ready or elsewhere, a Wait, its own arguments
// while they are not ready: not their fetch once they are, see fetchingArgs)
// and when it no longer does: the node lends the lease's CPUs to other work
// meanwhile, as Ray's raylet does for a blocked worker (node/blocked.go).
// Tasks that wait on the tasks they submit then cannot hold every CPU of
// the cluster and wait forever.
//
// A wait shorter than blockGrace tells the node nothing: most waits for a
// child task or a fetch are short, and two node calls each would cost more
// than lending a CPU for a moment gains. The waits of a process are
// counted together (a task may wait in several goroutines); the node is
// told in order by one sender at a time.

// blockGrace is how long a wait lasts before the node is told.
const blockGrace = 2 * time.Millisecond

// blockDecision is what to tell the node, given waits in progress since
// since, and what it was last told: tell blocked (or unblocked), or check
// again after recheck (0: nothing to do until the waits change).
func blockDecision(waits int, since, now time.Time, told bool, grace time.Duration) (tell, blocked bool, recheck time.Duration) {
	switch {
	case waits > 0 && !told:
		if d := now.Sub(since); d < grace {
			return false, false, grace - d
		}
		return true, true, 0
	case waits == 0 && told:
		return true, false, 0
	}
	return false, false, 0
}

// blockNotifier keeps the count and tells the node. Its clock, timer and
// sender are fields so that tests drive it.
type blockNotifier struct {
	now   func() time.Time
	after func(d time.Duration, f func())
	tell  func(blocked bool)
	grace time.Duration

	mu      sync.Mutex
	waits   int
	since   time.Time
	told    bool // what the node was last told, or is being told
	sending bool // a sender is at work
	timer   bool // a recheck is due
}

func newBlockNotifier(tell func(blocked bool)) *blockNotifier {
	return &blockNotifier{now: time.Now, after: func(d time.Duration, f func()) { time.AfterFunc(d, f) }, tell: tell, grace: blockGrace}
}

// begin counts a wait in; the function it returns counts it out.
func (b *blockNotifier) begin() (end func()) {
	b.mu.Lock()
	b.waits++
	if b.waits == 1 {
		b.since = b.now()
	}
	b.stepLocked()
	b.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			b.mu.Lock()
			b.waits--
			b.stepLocked()
			b.mu.Unlock()
		})
	}
}

// stepLocked acts on blockDecision: starts the sender or a recheck.
func (b *blockNotifier) stepLocked() {
	if b.sending {
		return // the sender steps again when it is done
	}
	tell, blocked, recheck := blockDecision(b.waits, b.since, b.now(), b.told, b.grace)
	switch {
	case tell:
		b.told, b.sending = blocked, true
		go b.send(blocked)
	case recheck > 0 && !b.timer:
		b.timer = true
		b.after(recheck, func() {
			b.mu.Lock()
			b.timer = false
			b.stepLocked()
			b.mu.Unlock()
		})
	}
}

func (b *blockNotifier) send(blocked bool) {
	b.tell(blocked)
	b.mu.Lock()
	b.sending = false
	b.stepLocked()
	b.mu.Unlock()
}

// Waiting counts a wait for objects in (ray.Wait and the generators' Next
// use it; Get does on its own); the function it returns counts it out. It
// does nothing outside a worker process that runs normal tasks.
func (w *Worker) Waiting() (end func()) {
	if w.blocks == nil || w.hostsActor.Load() {
		return func() {}
	}
	return w.blocks.begin()
}

// tellBlocked is the notifier's sender: the node manager's
// NotifyWorkerBlocked.
func (w *Worker) tellBlocked(blocked bool) {
	ctx, cancel := context.WithTimeout(w.baseCtx, 5*time.Second)
	defer cancel()
	if _, err := w.nodeClient().NotifyWorkerBlocked(ctx, &rpcpb.WorkerBlockedRequest{WorkerId: w.cfg.WorkerID, Blocked: blocked}); err != nil && ctx.Err() == nil {
		w.warn.printf(w.log, "telling the node this worker is blocked=%v: %v", blocked, err)
	}
}
