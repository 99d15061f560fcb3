package core

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// nodeWatchInterval is how often an owner holding leases asks the GCS which
// nodes died.
const nodeWatchInterval = 500 * time.Millisecond

// nodeProbeTimeout bounds asking a node the GCS calls dead whether it still
// answers: a live node manager answers GetNodeStats in milliseconds.
const nodeProbeTimeout = 3 * time.Second

// watchNodes fails over the leases an owner holds on nodes that died. A
// broken stream is not enough to notice a node's death: when a node's host
// or pod vanishes (network namespace gone, no TCP reset), the task stream to
// its worker just hangs, and the in-flight tasks would never return nor be
// retried. Polling only runs while leases are held or tasks wait for one.
//
// The GCS's word alone is not enough either: a restarted GCS shows every
// node it loaded from its storage as dead until the node registers again (at
// its next heartbeat), and a driver that believed it would kill its leases
// on every surviving node. A node the GCS does not list as alive is asked
// directly; only one that does not answer as itself is dead.
func (w *Worker) watchNodes(ctx context.Context) {
	t := time.NewTicker(nodeWatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		held, waiting := w.leaseState()
		if len(held) == 0 && !waiting {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := w.gcsRaw.GetNodes(rctx, &rpcpb.GetNodesRequest{})
		cancel()
		if err != nil {
			continue // the GCS is down: streams that break tell of dead nodes meanwhile
		}
		w.att.sawNodes(v.Nodes)
		at := w.att.get()
		suspects := suspectNodes(v.Nodes, held, at, w.canReattach())
		if len(suspects) == 0 {
			continue
		}
		dead := w.probeNodes(ctx, suspects)
		if len(dead) > 0 {
			w.failLeasesOnNodes(dead)
		}
		if dead[at.id] && w.canReattach() {
			w.nodeLost(at, fmt.Errorf("the GCS reports node %s dead and it does not answer", at.id))
		}
	}
}

// suspectNodes are the nodes to ask directly, by id → address: the nodes
// holding leases (held: id → address) and, for a driver that can move, its
// attached node, when the GCS does not list them as alive (dead, awaiting
// re-registration, or unknown to it).
func suspectNodes(nodes []*rpcpb.NodeView, held map[string]string, at *attachment, attached bool) map[string]string {
	alive := map[string]bool{}
	for _, n := range nodes {
		if n.Alive {
			alive[n.NodeId] = true
		}
	}
	out := map[string]string{}
	for id, addr := range held {
		if !alive[id] {
			out[id] = addr
		}
	}
	if attached && at.id != "" && !alive[at.id] {
		out[at.id] = at.addr
	}
	return out
}

// probeNodes asks each suspect node manager, in parallel, who it is; the
// ones that do not answer, or answer as another node (a restarted head's
// node manager on the old port), are dead.
func (w *Worker) probeNodes(ctx context.Context, suspects map[string]string) map[string]bool {
	var mu sync.Mutex
	var wg sync.WaitGroup
	dead := map[string]bool{}
	for id, addr := range suspects {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !w.nodeAnswers(ctx, id, addr) {
				mu.Lock()
				dead[id] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return dead
}

func (w *Worker) nodeAnswers(ctx context.Context, id, addr string) bool {
	if addr == "" {
		return false
	}
	conn, err := w.pool.Get(addr)
	if err != nil {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, nodeProbeTimeout)
	defer cancel()
	st, err := rpcpb.NewNodeManagerClient(conn).GetNodeStats(pctx, &rpcpb.Empty{})
	return err == nil && st.NodeId == id
}

// leaseState lists the nodes holding this owner's leases (id → node manager
// address) and whether tasks wait for a lease.
func (w *Worker) leaseState() (map[string]string, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	held := map[string]string{}
	waiting := false
	for _, q := range w.queues {
		for _, lw := range q.workers {
			if !lw.dead {
				held[lw.lease.NodeId] = lw.nodeAddr
			}
		}
		if len(q.ready) > 0 || q.leasing > 0 {
			waiting = true
		}
	}
	return held, waiting
}

// failLeasesOnNodes treats every leased worker on a dead node as crashed: its
// in-flight tasks are retried elsewhere (or failed once out of retries).
func (w *Worker) failLeasesOnNodes(dead map[string]bool) {
	w.mu.Lock()
	var acts []ownership.Action
	for _, q := range w.queues {
		las := q.nodeDead(w.leaseBuf(), dead)
		for _, a := range las {
			if a.kind == actReturnLease {
				w.log.Printf("node %s died; failing over the tasks of worker %s", a.lw.lease.NodeId, a.lw.lease.WorkerId)
			}
		}
		acts = append(acts, w.runLocked(q, las, nil, nil)...)
	}
	w.mu.Unlock()
	w.do(acts)
}

// NodeDiedError is the cause recorded when a task's node died under it.
type NodeDiedError struct{ NodeID string }

func (e *NodeDiedError) Error() string { return "node " + e.NodeID + " died" }
