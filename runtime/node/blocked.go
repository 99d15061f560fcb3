package node

import (
	"context"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// A worker running a normal task that waits for objects — ray.Get or
// ray.Wait on refs not ready, or its own arguments not ready yet or being
// rebuilt (not the fetch of ready ones: Ray's raylet pulls those before
// the task runs, under its lease) — holds a lease it is not using. As Ray's raylet does for a
// blocked worker, the node lends the lease's CPUs to other leases while
// it waits and takes them back when it goes on (the node may then be over
// its CPUs for a while: nothing new fits until enough leases end). Without
// this, tasks that wait on the tasks they submit (recursion, fan-out and
// gather, a Data task whose input is being rebuilt) can hold every CPU of
// a cluster and wait forever. Actors keep theirs, as in Ray. Other
// resources (GPUs, memory, custom ones) stay with the lease.

// NotifyWorkerBlocked lends or takes back a blocked worker's CPUs.
func (n *Node) NotifyWorkerBlocked(ctx context.Context, in *rpcpb.WorkerBlockedRequest) (*rpcpb.Empty, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	l := n.leaseOfLocked(in.WorkerId)
	if l == nil || l.epoch != n.epoch || l.w.actorID != "" {
		return &rpcpb.Empty{}, nil // ended, of a dropped incarnation, or an actor's
	}
	pool := n.poolLocked(l)
	if pool == nil {
		return &rpcpb.Empty{}, nil
	}
	switch lent := lendable(l.res); {
	case in.Blocked && l.lent == nil && lent != nil:
		l.lent = lent
		lent.AddTo(pool)
		n.notifyLocked() // waiting lease requests may fit now
	case !in.Blocked && l.lent != nil:
		l.lent.SubFrom(pool)
		l.lent = nil
	}
	return &rpcpb.Empty{}, nil
}

// lendable is what a blocked lease of res lends: its CPUs (nil if none).
func lendable(res scheduler.Resources) scheduler.Resources {
	if cpu := res["CPU"]; cpu > 0 {
		return scheduler.Resources{"CPU": cpu}
	}
	return nil
}

// held is what the lease holds of its pool now: its resources less what
// it lends while blocked.
func (l *lease) held() scheduler.Resources {
	if l.lent == nil {
		return l.res
	}
	h := l.res.Clone()
	l.lent.SubFrom(h)
	return h
}

// leaseOfLocked is the lease worker id serves, if any.
func (n *Node) leaseOfLocked(workerID string) *lease {
	for _, l := range n.leases {
		if l.w != nil && l.w.id == workerID {
			return l
		}
	}
	return nil
}

// poolLocked is the resources a lease was taken from: the node's, or its
// placement group bundle's (nil if that bundle is gone).
func (n *Node) poolLocked(l *lease) scheduler.Resources {
	if l.pgID == "" {
		return n.available
	}
	if b, ok := n.bundles[l.pgID][l.bundle]; ok {
		return b.avail
	}
	return nil
}
