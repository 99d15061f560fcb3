package core

import (
	"context"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// nodeWatchInterval is how often an owner holding leases asks the GCS which
// nodes died.
const nodeWatchInterval = 500 * time.Millisecond

// watchNodes fails over the leases an owner holds on nodes the GCS declared
// dead. A broken stream is not enough to notice a node's death: when a
// node's host or pod vanishes (network namespace gone, no TCP reset), the
// task stream to its worker just hangs, and the in-flight tasks would never
// return nor be retried. Polling only runs while leases are held.
func (w *Worker) watchNodes(ctx context.Context) {
	t := time.NewTicker(nodeWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !w.holdsLeases() {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := w.gcs.GetNodes(rctx, &rpcpb.GetNodesRequest{})
		cancel()
		if err != nil {
			continue
		}
		dead := map[string]bool{}
		for _, n := range v.Nodes {
			if !n.Alive {
				dead[n.NodeId] = true
			}
		}
		if len(dead) > 0 {
			w.failLeasesOnNodes(dead)
		}
	}
}

func (w *Worker) holdsLeases() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, q := range w.queues {
		if len(q.workers) > 0 {
			return true
		}
	}
	return false
}

// failLeasesOnNodes treats every leased worker on a dead node as crashed: its
// in-flight tasks are retried elsewhere (or failed once out of retries).
func (w *Worker) failLeasesOnNodes(dead map[string]bool) {
	w.mu.Lock()
	var lost []*leasedWorker
	for _, q := range w.queues {
		for _, lw := range q.workers {
			if !lw.dead && dead[lw.lease.NodeId] {
				lost = append(lost, lw)
			}
		}
	}
	w.mu.Unlock()
	for _, lw := range lost {
		w.log.Printf("node %s died; failing over the tasks of worker %s", lw.lease.NodeId, lw.lease.WorkerId)
		w.workerFailed(lw, &NodeDiedError{NodeID: lw.lease.NodeId})
	}
}

// NodeDiedError is the cause recorded when a task's node died under it.
type NodeDiedError struct{ NodeID string }

func (e *NodeDiedError) Error() string { return "node " + e.NodeID + " died" }
