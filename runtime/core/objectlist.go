package core

import (
	"context"
	"os"
	"sort"

	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// maxListedObjects caps one ListObjects answer (Ray's
// RAY_MAX_LIMIT_FROM_DATA_SOURCE).
const maxListedObjects = 10_000

// ListObjects lists the objects this process owns, for the state API.
func (w *Worker) ListObjects(ctx context.Context, in *rpcpb.ListObjectsRequest) (*rpcpb.OwnedObjects, error) {
	limit := int(in.GetLimit())
	if limit <= 0 || limit > maxListedObjects {
		limit = maxListedObjects
	}
	out := &rpcpb.OwnedObjects{Pid: int32(os.Getpid()), Ip: w.cfg.IP, Driver: !w.isWork}
	w.mu.Lock()
	out.Total = int64(w.table.Len())
	w.table.Each(func(e *ownership.Entry) bool {
		if e.Actor {
			out.Total-- // an actor's handle count, not an object
			return true
		}
		if len(out.Objects) >= limit {
			return false
		}
		out.Objects = append(out.Objects, w.ownedObjectLocked(e))
		return true
	})
	w.mu.Unlock()
	sort.Slice(out.Objects, func(i, j int) bool { return out.Objects[i].ObjectId < out.Objects[j].ObjectId })
	return out, nil
}

// ownedObjectLocked describes one entry in Ray's terms: the creating task's
// status (from the task this process still has pending), and the strongest
// kind of reference that keeps it.
func (w *Worker) ownedObjectLocked(e *ownership.Entry) *rpcpb.OwnedObject {
	o := &rpcpb.OwnedObject{ObjectId: e.ID, Size: -1, NodeId: e.Loc.NodeID}
	switch {
	case e.Ready && e.Loc.Err != nil:
		o.TaskStatus = "FAILED"
	case e.Ready:
		o.TaskStatus, o.Size = "FINISHED", e.Loc.Size
	default:
		o.TaskStatus = "SCHEDULED"
		if pt, ok := w.pending[e.TaskID]; ok {
			switch {
			case !pt.resolved:
				o.TaskStatus = "WAITING_FOR_DEPENDENCIES"
			case pt.lw != nil || pt.actor != nil && pt.actor.inflight[pt.spec.TaskId] == pt:
				o.TaskStatus = "WAITING_FOR_EXECUTION"
			}
		}
	}
	switch {
	case e.Local > 0:
		o.ReferenceType = "LOCAL_REFERENCE"
	case e.Submitted > 0:
		o.ReferenceType = "USED_BY_PENDING_TASK"
	case e.Contained > 0:
		o.ReferenceType = "CAPTURED_IN_OBJECT"
	case len(e.Borrowers) > 0:
		// Held only by other processes borrowing it: Ray lists it so in
		// the borrower, and here (its owner) as pinned for them.
		o.ReferenceType = "PINNED_IN_MEMORY"
	default:
		o.ReferenceType = "UNKNOWN_STATUS"
	}
	return o
}
