package node

import (
	"context"
	"fmt"
	"strings"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// DrainNode is the GCS retiring this node. For IDLE_TERMINATION it is
// rejected while the node is busy: leased workers (running tasks or
// actors), queued lease requests, placement-group bundles, or objects in the
// store (the primary copies owners may still read). Checked and set under one
// lock, so no lease is granted between the check and the drain. An accepted
// node rejects direct grants, spills other requests to the rest of the
// cluster, and at the deadline (if any) unregisters and closes Done.
func (n *Node) DrainNode(ctx context.Context, in *rpcpb.DrainNodeRequest) (*rpcpb.DrainNodeReply, error) {
	objs := n.Store.Stats().Objects
	n.mu.Lock()
	if n.cfg.IsHead {
		n.mu.Unlock()
		return &rpcpb.DrainNodeReply{RejectionReasonMessage: "the head node is never drained"}, nil
	}
	if in.Reason != rpcpb.DrainReason_PREEMPTION && !n.draining {
		var busy []string
		if len(n.leases) > 0 {
			busy = append(busy, fmt.Sprintf("%d leased worker(s) running tasks or actors", len(n.leases)))
		}
		queued := int64(0)
		for _, d := range n.demand {
			queued += d.Count
		}
		if queued > 0 {
			busy = append(busy, fmt.Sprintf("%d queued lease request(s)", queued))
		}
		if len(n.bundles) > 0 {
			busy = append(busy, fmt.Sprintf("bundles of %d placement group(s)", len(n.bundles)))
		}
		if objs > 0 {
			busy = append(busy, fmt.Sprintf("%d object(s) in its store", objs))
		}
		if len(busy) > 0 {
			n.mu.Unlock()
			return &rpcpb.DrainNodeReply{RejectionReasonMessage: "node is busy: " + strings.Join(busy, ", ")}, nil
		}
	}
	first := !n.draining
	n.draining = true
	n.notifyLocked() // queued requests re-plan without this node
	n.mu.Unlock()
	if first {
		n.log.Printf("draining (%s: %s)", in.Reason, in.ReasonMessage)
		if in.DeadlineTimestampMs > 0 {
			go n.exitAt(time.UnixMilli(in.DeadlineTimestampMs), in.ReasonMessage)
		}
	}
	return &rpcpb.DrainNodeReply{IsAccepted: true}, nil
}

// Draining reports whether the node was drained.
func (n *Node) Draining() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.draining
}

// Done is closed when a drained node reached its deadline and left the
// cluster; the process running it should stop it and exit.
func (n *Node) Done() <-chan struct{} { return n.done }

func (n *Node) exitAt(deadline time.Time, why string) {
	select {
	case <-time.After(time.Until(deadline)):
	case <-n.stop:
		return
	}
	n.log.Printf("drain deadline reached; leaving the cluster")
	n.unregister("drained: " + why)
	n.doneOnce.Do(func() { close(n.done) })
}

// unregister tells the GCS this node leaves on purpose (best effort).
func (n *Node) unregister(reason string) {
	id := n.ID()
	if n.gcs == nil || id == "" || n.cfg.IsHead {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = n.gcs.UnregisterNode(ctx, &rpcpb.UnregisterNodeRequest{NodeId: id, Reason: reason})
}
