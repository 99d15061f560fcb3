package node

import (
	"errors"
	"os/exec"
	"sort"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// maxExited is how many exited workers a node remembers for the state API
// (Ray keeps dead workers in the GCS for a while the same way).
const maxExited = 1000

// exitedWorkers is a bounded ring of the workers that exited, newest last.
type exitedWorkers struct {
	ring []*rpcpb.WorkerState
	next int
}

func (e *exitedWorkers) add(w *rpcpb.WorkerState) {
	if len(e.ring) < maxExited {
		e.ring = append(e.ring, w)
		return
	}
	e.ring[e.next] = w
	e.next = (e.next + 1) % maxExited
}

// exitedWorker says how a worker ended, in Ray's exit types: killed by
// ray.Kill or a forced cancel is the user's intent; killed by the node
// (idle, or its incarnation dropped) the system's; anything else a crash.
func exitedWorker(w *worker, err error, at time.Time) *rpcpb.WorkerState {
	st := workerState(w)
	st.Alive, st.Leased, st.EndTimeMs = false, false, at.UnixMilli()
	switch {
	case w.oomReason != "":
		st.ExitType, st.ExitDetail = exitNodeOOM, w.oomReason
	case w.userKill:
		st.ExitType, st.ExitDetail = "INTENDED_USER_EXIT", "killed: ray.Kill of its actor or a forced cancel"
	case w.killed:
		st.ExitType, st.ExitDetail = "INTENDED_SYSTEM_EXIT", "stopped by its node (idle, or its lease returned broken)"
	default:
		st.ExitType, st.ExitDetail = "SYSTEM_ERROR", "the worker process exited: "+exitText(err)
	}
	return st
}

func exitText(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.String()
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func workerState(w *worker) *rpcpb.WorkerState {
	st := &rpcpb.WorkerState{WorkerId: w.id, Pid: int32(w.pid), JobId: w.jobID, ActorId: w.actorID, Alive: true, Leased: w.leased,
		Address: w.addr}
	if !w.started.IsZero() {
		st.StartTimeMs = w.started.UnixMilli()
	}
	return st
}

// workerStatesLocked lists the live workers (by start) and the exited ones
// the node remembers (newest first).
func (n *Node) workerStatesLocked() []*rpcpb.WorkerState {
	out := make([]*rpcpb.WorkerState, 0, len(n.workers)+len(n.exited.ring))
	for _, w := range n.workers {
		out = append(out, workerState(w))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartTimeMs < out[j].StartTimeMs })
	for i := len(n.exited.ring) - 1; i >= 0; i-- {
		out = append(out, n.exited.ring[(n.exited.next+i)%len(n.exited.ring)])
	}
	return out
}
