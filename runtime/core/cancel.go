package core

// Cancelling the tasks this worker owns (Ray's ray.cancel), and with
// recursive, what they submitted in turn.

import (
	"context"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Cancel cancels a task: dropped if queued, interrupted (its context
// cancelled) if running, its process killed with force. Cancelled tasks are
// not retried; Get returns TaskCancelledError. id names the task by any of
// its returns (num_returns > 1) or its generator. With recursive, the
// tasks and actor calls it submitted are cancelled too, and theirs (its
// executor cancels them: it owns them).
func (w *Worker) Cancel(id string, force, recursive bool) error {
	w.mu.Lock()
	if e, ok := w.table.Get(id); ok && e.TaskID != "" {
		id = e.TaskID
	}
	pt, ok := w.pending[id]
	if !ok {
		w.mu.Unlock()
		return nil
	}
	var addr string
	if pt.actor != nil {
		pt.cancelled = true
		addr = pt.actor.addr
		force = false // as in Ray, actor tasks are not force-cancelled
	} else {
		q := w.queues[pt.queueKey()]
		if q == nil { // no task of its shape was queued yet (its arguments are not ready)
			q = &schedQueue{}
		}
		las := q.cancelTask(w.leaseBuf(), pt)
		for _, a := range las {
			if a.kind == actCancelOnWorker {
				addr = a.lw.lease.WorkerAddress
			}
		}
		if acts := w.runLocked(q, las, nil, nil); addr == "" {
			w.mu.Unlock()
			w.do(acts)
			return nil
		}
	}
	w.mu.Unlock()
	if addr == "" {
		return nil
	}
	c, err := w.pool.Get(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = rpcpb.NewCoreWorkerClient(c).CancelTask(ctx, &rpcpb.CancelTaskRequest{TaskId: id, Force: force, Recursive: recursive})
	return err
}

// cancelChildren cancels the tasks this process submitted from task parent
// (its executor is this process), recursively.
func (w *Worker) cancelChildren(parent string, force bool) {
	w.mu.Lock()
	var children []string
	for id, pt := range w.pending {
		if pt.opts.Parent == parent {
			children = append(children, id)
		}
	}
	w.mu.Unlock()
	for _, id := range children {
		_ = w.Cancel(id, force, true)
	}
}
