package core

import (
	"context"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Leases: asking nodes for workers for a queue, attaching them, and
// giving them back when idle or broken.

// requestLease asks the local node manager for a worker, following spillbacks.
func (w *Worker) requestLease(ctx context.Context, q *schedQueue) {
	defer w.leaseReqs.Done()
	defer func() {
		w.mu.Lock()
		if q.leasing == 1 {
			// The last request in flight: the contexts of those that
			// ended are released.
			for _, c := range q.cancel {
				c()
			}
			q.cancel = nil
		}
		// What is still queued is asked for again (after a move to another
		// node, of that one) — unless the owner stopped: a request would
		// end at once, and ask again.
		las := w.leaseBuf()
		if w.baseCtx.Err() != nil {
			las = q.close(las)
		}
		w.runLocked(q, q.leaseDone(las), nil, nil)
		w.mu.Unlock()
	}()
	req := &rpcpb.LeaseRequest{JobId: w.jobID, BinaryHash: w.binaryHash, Resources: q.res, Strategy: q.strategy, EnvVars: q.envVars,
		NotRetriable: q.notRetriable, OwnerAddress: w.addr}
	kind := q.strategy.GetKind()
	ask := newLeaseAsk(kind == rpcpb.SchedulingStrategy_NODE_AFFINITY && !q.strategy.GetSoft(), kind == rpcpb.SchedulingStrategy_PLACEMENT_GROUP)
	at := w.att.get()
	var client rpcpb.NodeManagerClient // where the last call went
	var addr string
	var rep *rpcpb.LeaseReply
	var lastErr error
	first := true
	for steps := ask.start(); len(steps) > 0; {
		s := steps[0]
		steps = steps[1:]
		switch s.kind {
		case stepSend:
			if ctx.Err() != nil {
				return
			}
			switch s.to.kind {
			case toAttached:
				at = w.att.get()
				client, addr = at.client, at.addr
			case toPlacement:
				c, a, err := w.pgNodeClient(ctx, q.strategy)
				switch {
				case err == nil:
					client, addr = c, a
				case first:
					w.failQueue(q, err)
					return
				default: // the attached node knows the group too
					at = w.att.get()
					client, addr = at.client, at.addr
				}
			case toSpillback:
				c, err := w.pool.Get(s.to.addr)
				if err != nil {
					steps = ask.dialFailed()
					continue
				}
				client, addr = rpcpb.NewNodeManagerClient(c), s.to.addr
			}
			first = false
			req.GrantOrReject = s.grantOrReject
			rep, lastErr = w.leaseCall(ctx, client, req)
			switch {
			case lastErr != nil:
				if ctx.Err() == nil {
					w.warn.printf(w.log, "lease request failed (will retry): %v", lastErr)
				}
				steps = ask.callFailed(ctx.Err() != nil, status.Code(lastErr) == codes.Unavailable, client == at.client)
			case rep.Granted:
				steps = ask.granted()
			case rep.SpillbackAddress != "":
				steps = ask.spillback(rep.SpillbackAddress)
			case rep.Rejected:
				steps = ask.rejected(rep.Message)
			default:
				steps = ask.unanswered()
			}
		case stepAttach:
			w.attach(q, client, addr, rep)
			return
		case stepFail:
			w.failQueue(q, s.err)
			return
		case stepSleep:
			if sleepCtx(ctx, s.delay) != nil {
				return
			}
		case stepReturnUnseen:
			// Cancelled (no more queued tasks, shutdown) or timed out: the
			// node may have granted the lease as the reply was dropped.
			// Return it by the id we chose; unknown ids are a no-op. Sent
			// after the cancellation on the same connection, it reaches the
			// node after the request's context is cancelled there, and a
			// grant recorded after that is freed by the node itself.
			w.returnUnseenLease(client, req.LeaseId)
		case stepReattach:
			// No node manager at the attached address (the head's node
			// died with the head): a driver attaches elsewhere.
			at = w.nodeLost(at, lastErr)
		case stepStop:
			return
		}
	}
}

// leaseCall is one RequestWorkerLease under a fresh lease id.
func (w *Worker) leaseCall(ctx context.Context, client rpcpb.NodeManagerClient, req *rpcpb.LeaseRequest) (*rpcpb.LeaseReply, error) {
	if req.GrantOrReject {
		// A spillback target answers at once (at most a worker start);
		// one whose host vanished would otherwise hold this request, and
		// a slot of maxLeaseRequests, forever. A grant that races the
		// deadline is freed by the node (it checks the request's context).
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, spillbackTimeout)
		defer cancel()
	}
	// Minted here (ids.Seq): the node asks this process whether a lease
	// is still its own (IsOwner) to end the leases of an owner that died.
	req.LeaseId = ids.Seq()
	return client.RequestWorkerLease(ctx, req)
}

// returnUnseenLease returns a lease whose grant reply never arrived.
func (w *Worker) returnUnseenLease(c rpcpb.NodeManagerClient, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.ReturnWorker(ctx, &rpcpb.ReturnWorkerRequest{LeaseId: id})
}

func (w *Worker) failQueue(q *schedQueue, err error) {
	w.mu.Lock()
	acts := w.runLocked(q, q.failAll(w.leaseBuf(), err), nil, nil)
	w.mu.Unlock()
	w.do(acts)
}

// attach opens the task stream to a leased worker.
func (w *Worker) attach(q *schedQueue, node rpcpb.NodeManagerClient, nodeAddr string, rep *rpcpb.LeaseReply) {
	conn, err := w.pool.Get(pushTarget(rep))
	var stream rpcpb.CoreWorker_PushTasksClient
	ctx, cancel := context.WithCancel(w.baseCtx)
	if err == nil {
		stream, err = rpcpb.NewCoreWorkerClient(conn).PushTasks(ctx)
	}
	if err != nil {
		cancel()
		_, _ = node.ReturnWorker(context.Background(), &rpcpb.ReturnWorkerRequest{LeaseId: rep.LeaseId, WorkerBroken: true})
		w.mu.Lock()
		w.runLocked(q, q.attachFailed(w.leaseBuf()), nil, nil)
		w.mu.Unlock()
		return
	}
	lw := &leasedWorker{q: q, lease: rep, node: node, nodeAddr: nodeAddr, stream: stream, cancel: cancel,
		out: make(chan []*rpcpb.TaskSpec, 1024), inflight: map[string]*pendingTask{},
		where: &rpcpb.TaskWhere{NodeId: rep.NodeId, WorkerId: rep.WorkerId, WorkerPid: rep.WorkerPid}}
	go w.sender(lw)
	go w.receiver(lw)
	w.mu.Lock()
	w.runLocked(q, q.granted(w.leaseBuf(), lw), nil, nil)
	w.mu.Unlock()
}

// idleCheck is a leased worker's idle timer: its lease goes back after
// LeaseIdle without work (leaseBook.idleTick). One timer per leased worker
// is re-armed (no goroutine per finished task).
func (w *Worker) idleCheck(lw *leasedWorker) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.runLocked(lw.q, lw.q.idleTick(w.leaseBuf(), lw), nil, nil)
}

func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// returnLeaseLocked gives a lease back to its node in the background; a
// non-nil wg is Done once the node answered (or at once when the lease was
// already returned).
func (w *Worker) returnLeaseLocked(lw *leasedWorker, wg *sync.WaitGroup) {
	las := lw.q.giveBack(w.leaseBuf(), lw)
	if len(las) == 0 && wg != nil {
		wg.Done()
	}
	w.runLocked(lw.q, las, nil, wg)
}

// pgNodeClient is the node manager holding the strategy's bundle, and its address.
func (w *Worker) pgNodeClient(ctx context.Context, s *rpcpb.SchedulingStrategy) (rpcpb.NodeManagerClient, string, error) {
	info, err := w.gcs.GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: s.PlacementGroupId, Wait: true})
	if err != nil {
		return nil, "", err
	}
	if info.State != "CREATED" {
		return nil, "", &UnschedulableError{Message: "placement group " + s.PlacementGroupId + " is " + info.State}
	}
	idx := int(s.BundleIndex)
	if idx < 0 || idx >= len(info.BundleAddresses) {
		idx = 0
	}
	c, err := w.pool.Get(info.BundleAddresses[idx])
	if err != nil {
		return nil, "", err
	}
	return rpcpb.NewNodeManagerClient(c), info.BundleAddresses[idx], nil
}
