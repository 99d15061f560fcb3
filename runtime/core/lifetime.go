package core

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Object lifetime past the owner: every object a process stores in a node's
// object store carries the process's address as its owner (see storeAt).
// The objects of an owner that exits are freed by the nodes holding them —
// at once when it shuts down (freeOwnedObjects), else when the node finds
// it gone (runtime/node/owners.go asks IsOwner at the owner's address). A
// borrower's Get of such an object then fails with OwnerDiedError, as the
// owner is the only one who knew where it was.

// IsOwner answers a node that holds an object whether this process owns it:
// it does when it made the object's id (puts and task results are named by
// ids.Seq of their owner), so another process that took over the address
// answers no.
func (w *Worker) IsOwner(ctx context.Context, in *rpcpb.IsOwnerRequest) (*rpcpb.IsOwnerReply, error) {
	if in.ObjectId == "" {
		return nil, status.Error(codes.InvalidArgument, "object id is required")
	}
	return &rpcpb.IsOwnerReply{Owner: ids.Minted(in.ObjectId)}, nil
}

// freeOwnedObjectsTimeout bounds freeing at Shutdown: a node that does not
// answer frees them when it finds this process gone.
const freeOwnedObjectsTimeout = 3 * time.Second

// freeOwnedObjects frees, on every live node, the objects this process owns
// (Shutdown: their references end with it). Objects of a process that ends
// without Shutdown are freed by the nodes when they find it gone.
func (w *Worker) freeOwnedObjects() {
	if w.local != nil {
		w.local.ObjectStore().DeleteOwned(w.addr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), freeOwnedObjectsTimeout)
	defer cancel()
	addrs := map[string]bool{}
	if at := w.att.get(); at != nil && w.local == nil {
		addrs[at.addr] = true // even while the GCS is down
	}
	if v, err := w.gcsRaw.GetNodes(ctx, &rpcpb.GetNodesRequest{}); err == nil {
		for _, n := range v.Nodes {
			if n.Alive && n.Address != "" && (w.local == nil || n.NodeId != w.local.ID()) {
				addrs[n.Address] = true
			}
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	for addr := range addrs {
		c, err := w.pool.Get(addr)
		if err != nil {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, _ = rpcpb.NewNodeManagerClient(c).FreeObjects(ctx, &rpcpb.FreeObjectsRequest{OwnerAddress: w.addr})
		}()
	}
	wg.Wait()
}

// ownerGone reports whether the owner at conn is gone: nothing answers
// there, or another process does (a borrower whose fetch failed tells an
// owner's death from a lost copy with it).
func ownerGone(ctx context.Context, conn grpc.ClientConnInterface, id string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	r, err := rpcpb.NewCoreWorkerClient(conn).IsOwner(ctx, &rpcpb.IsOwnerRequest{ObjectId: id})
	if err != nil {
		return status.Code(err) == codes.Unavailable
	}
	return !r.Owner // another process took the owner's address
}
