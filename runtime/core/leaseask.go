package core

import (
	"fmt"
	"time"
)

// leaseAsk decides the course of one lease request: where each call goes,
// how long to wait before the next, when to follow a spillback, give up or
// attach. It is pure — events in, steps out, no clock and no I/O — so that
// its decisions are tested by the scenarios in testdata/leaseask.txt; the
// driver (requestLease) makes the calls, sleeps and dials.
type leaseAsk struct {
	hardAffinity bool // NODE_AFFINITY, not soft: a rejection at the first node is final
	placement    bool // PLACEMENT_GROUP: the first call goes to the group's node
	// target is where the current call went; prev where the one before
	// went (a spillback target that cannot be dialled sends it back there).
	target, prev askTarget
	// grantOrReject: the current call was a spillback's (the node may not
	// spill it back again).
	grantOrReject bool
	fails         int // failed calls in a row: the backoff grows with them
	hops          int // spillbacks followed
	done          bool
}

// askTarget is a node a lease call goes to.
type askTarget struct {
	kind targetKind
	addr string // spillback target's address
}

type targetKind int

const (
	toAttached  targetKind = iota // the node this process is attached to (asked anew each time)
	toPlacement                   // the placement group's node (asked of the GCS)
	toSpillback                   // the address a node spilled the request to
)

func (t askTarget) String() string {
	switch t.kind {
	case toPlacement:
		return "placement-node"
	case toSpillback:
		return t.addr
	}
	return "attached"
}

// askStep is one thing the driver does, in order.
type askStep struct {
	kind askStepKind
	// send: to and grantOrReject; sleep: delay; fail: err.
	to            askTarget
	grantOrReject bool
	delay         time.Duration
	err           error
}

type askStepKind int

const (
	stepSend         askStepKind = iota // call RequestWorkerLease with a fresh lease id
	stepAttach                          // the grant: open the task stream to the worker
	stepFail                            // fail the queue's tasks with err
	stepSleep                           // wait delay (or until cancelled)
	stepReturnUnseen                    // return the last call's lease id at its node (its reply never came)
	stepReattach                        // the attached node is gone: attach elsewhere
	stepStop                            // cancelled: nothing more
)

func (s askStep) String() string {
	switch s.kind {
	case stepSend:
		return fmt.Sprintf("send %s grant-or-reject=%v", s.to, s.grantOrReject)
	case stepAttach:
		return "attach " + s.to.String()
	case stepFail:
		return "fail " + s.err.Error()
	case stepSleep:
		return "sleep " + s.delay.String()
	case stepReturnUnseen:
		return "return-unseen " + s.to.String()
	case stepReattach:
		return "reattach"
	}
	return "stop"
}

// Delays of the retries (see the events).
const (
	spillbackDialRetry = 50 * time.Millisecond
	rejectedRetry      = 20 * time.Millisecond
)

func newLeaseAsk(hardAffinity, placement bool) *leaseAsk {
	return &leaseAsk{hardAffinity: hardAffinity, placement: placement}
}

// start is the first call: to the placement group's node, else the
// attached one.
func (a *leaseAsk) start() []askStep {
	a.target = askTarget{kind: toAttached}
	if a.placement {
		a.target = askTarget{kind: toPlacement}
	}
	return []askStep{a.send()}
}

func (a *leaseAsk) send() askStep {
	return askStep{kind: stepSend, to: a.target, grantOrReject: a.grantOrReject}
}

// granted: the node gave a worker.
func (a *leaseAsk) granted() []askStep {
	a.done = true
	return []askStep{{kind: stepAttach, to: a.target}}
}

// spillback: the node says addr has room; the next call goes there, which
// must grant or reject.
func (a *leaseAsk) spillback(addr string) []askStep {
	a.fails = 0
	a.hops++
	a.prev, a.target, a.grantOrReject = a.target, askTarget{kind: toSpillback, addr: addr}, true
	return []askStep{a.send()}
}

// dialFailed: no connection to the spillback target could be made; the
// call goes back to the node that spilled it, after a moment.
func (a *leaseAsk) dialFailed() []askStep {
	a.target = a.prev
	return []askStep{{kind: stepSleep, delay: spillbackDialRetry}, a.send()}
}

// rejected: the node will not run it now. A hard affinity rejected by
// the first node it asked can never run; otherwise ask again from the
// start (the view may have changed).
func (a *leaseAsk) rejected(msg string) []askStep {
	a.fails = 0
	if a.hardAffinity && !a.grantOrReject {
		a.done = true
		return []askStep{{kind: stepFail, err: &UnschedulableError{Message: msg}}}
	}
	a.grantOrReject = false
	a.target = askTarget{kind: toAttached}
	if a.placement {
		a.target = askTarget{kind: toPlacement}
	}
	return []askStep{{kind: stepSleep, delay: rejectedRetry}, a.send()}
}

// callFailed: the call returned no reply (its node gone, a timeout, the
// request cancelled). The node may have granted it as the reply was lost:
// the lease is returned by its id first. A cancelled request stops there;
// otherwise, after a growing backoff, the next call goes to the attached
// node — attached anew when the failed call went to it and nothing listens
// there (unavailable).
func (a *leaseAsk) callFailed(cancelled, unavailable, atAttached bool) []askStep {
	steps := []askStep{{kind: stepReturnUnseen, to: a.target}}
	if cancelled {
		a.done = true
		return append(steps, askStep{kind: stepStop})
	}
	if unavailable && atAttached {
		steps = append(steps, askStep{kind: stepReattach})
	}
	steps = append(steps, askStep{kind: stepSleep, delay: backoffDelay(leaseRetryBase, leaseRetryMax, a.fails)})
	a.fails++
	a.target, a.grantOrReject = askTarget{kind: toAttached}, false
	return append(steps, a.send())
}

// unanswered: a reply that neither grants, spills back nor rejects (a
// node of another version): the same call again.
func (a *leaseAsk) unanswered() []askStep {
	a.fails = 0
	return []askStep{a.send()}
}

// state is the request's bookkeeping as the scenarios show it.
func (a *leaseAsk) state() string {
	return fmt.Sprintf("target=%s grant-or-reject=%v fails=%d hops=%d done=%v", a.target, a.grantOrReject, a.fails, a.hops, a.done)
}
