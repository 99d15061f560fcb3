package node

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// ownerProbes bounds the probes in flight in one round.
const ownerProbes = 8

// watchOwners probes the owners of the objects in the store and of the
// leases granted here every ownerProbeInterval, and frees the objects and
// leases of those that are dead (see ownerwatch.go): a driver that was
// SIGKILLed or returned from main without Shutdown, a worker on another
// node that exited. Without it a dead owner's leases would hold their
// resources, and their workers, forever: nobody else returns them. The
// node's own workers are freed at once when their process exits
// (ownerExited).
func (n *Node) watchOwners() {
	defer n.wg.Done()
	// Its own pool: connections to owners come and go with them.
	pool := rpcutil.NewPool(n.cfg.Security)
	defer pool.Close()
	tr := newOwnerTracker()
	t := time.NewTicker(ownerProbeInterval)
	defer t.Stop()
	known := map[string]bool{}
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		owners := n.Store.Owners()
		for addr, id := range n.leaseOwners() {
			if _, ok := owners[addr]; !ok {
				owners[addr] = id // a lease id is the owner's own (ids.Seq), as an object's
			}
		}
		tr.retain(owners)
		for addr := range known {
			if _, ok := owners[addr]; !ok {
				pool.Drop(addr)
				delete(known, addr)
			}
		}
		for addr, r := range rpcutil.FanOut(owners, ownerProbes, func(addr, id string) probeResult { return probeOwner(pool, addr, id) }) {
			known[addr] = true
			if dead, why := tr.observe(addr, r, time.Now()); dead {
				n.freeOwned(addr, "its owner is gone: "+why)
				n.endLeasesOf(addr, "its owner is gone: "+why)
				pool.Drop(addr)
				delete(known, addr)
			}
		}
	}
}

// probeOwner asks the process at addr whether it owns object id.
func probeOwner(pool *rpcutil.Pool, addr, id string) probeResult {
	ctx, cancel := context.WithTimeout(context.Background(), ownerProbeTimeout)
	defer cancel()
	c, err := pool.Get(addr)
	if err != nil {
		return ownerAlive // an address gRPC cannot even parse: nothing to tell
	}
	r, err := rpcpb.NewCoreWorkerClient(c).IsOwner(ctx, &rpcpb.IsOwnerRequest{ObjectId: id})
	switch status.Code(err) {
	case codes.OK:
		if r.Owner {
			return ownerAlive
		}
		return ownerReplaced
	case codes.Unavailable, codes.DeadlineExceeded:
		return dialResult(ctx, addr)
	default:
		// Unimplemented (a binary that predates IsOwner), Unauthenticated
		// (another cluster's process, or a token mismatch): someone is
		// there and it is not known not to be the owner.
		return ownerAlive
	}
}

// dialResult tells a refused connection (nothing listens: the owner is
// gone) from no answer at all, once an RPC to addr failed.
func dialResult(ctx context.Context, addr string) probeResult {
	if rpcutil.Refused(ctx, addr, ownerProbeTimeout/2) {
		return ownerRefused
	}
	return ownerUnreachable
}

// ownerExited frees the objects owned by a worker of this node whose
// process exited (its address; "" when it never registered).
func (n *Node) ownerExited(addr string) {
	if addr != "" {
		n.freeOwned(addr, "its worker process exited")
		n.endLeasesOf(addr, "its owner, a worker of this node, exited")
	}
}

// leaseOwners lists the owners of the leases granted here (address → one
// of its lease ids), for watchOwners.
func (n *Node) leaseOwners() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := map[string]string{}
	for id, l := range n.leases {
		if l.owner != "" {
			out[l.owner] = id
		}
	}
	return out
}

// endLeasesOf kills the workers of the leases the owner at addr holds here
// (their tasks were its own; no one else would return the leases):
// workerExited frees each lease once its process is gone.
func (n *Node) endLeasesOf(addr, why string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	k := 0
	for _, l := range n.leases {
		if l.owner == addr && l.w != nil && !l.w.killed {
			n.killLocked(l.w)
			k++
		}
	}
	if k > 0 {
		n.log.Printf("killed the workers of %d leases held by %s: %s", k, addr, why)
	}
}

// freeOwned frees every object of the owner at addr.
func (n *Node) freeOwned(addr, why string) {
	if objs, bytes := n.Store.DeleteOwned(addr); objs > 0 {
		n.log.Printf("freed %d objects (%d bytes) owned by %s: %s", objs, bytes, addr, why)
	}
	n.forwardFrees(nil, addr)
}
