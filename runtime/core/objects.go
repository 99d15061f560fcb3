package core

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Handle is one reference to an object. The object is released when the
// handle becomes unreachable (or on Release). A handle to an object another
// process owns is a borrowed reference (borrow.go).
type Handle struct {
	ID       string
	Owner    string
	w        *Worker
	cleanup  runtime.Cleanup
	released atomic.Bool
	// encoding counts the SDK's encodings of values holding this handle in
	// progress (BeginEncode): only those may serialize it.
	encoding atomic.Int32
}

// BeginEncode marks the handle as being serialized by an encoding that
// tracks the references it writes (EndEncode ends it); Encoding says
// whether one is in progress. A reference serialized otherwise (a custom
// MarshalJSON the SDK cannot look into) would travel without a hold.
func (h *Handle) BeginEncode() { h.encoding.Add(1) }

// EndEncode ends a BeginEncode.
func (h *Handle) EndEncode() { h.encoding.Add(-1) }

// Encoding reports whether an encoding of the handle is in progress.
func (h *Handle) Encoding() bool { return h.encoding.Load() > 0 }

func (w *Worker) newHandle(id string) *Handle {
	h := &Handle{ID: id, Owner: w.addr, w: w}
	rel := w.releaseFn // made once (New): a closure per handle is an allocation
	if rel == nil {
		rel = w.release
	}
	h.cleanup = runtime.AddCleanup(h, rel, id)
	return h
}

// Release drops the handle's reference now rather than when the garbage
// collector finds the handle unreachable (Go has no deterministic drop; a
// loop of large puts otherwise waits on collections to free the store).
// Calling it again is a no-op.
func (h *Handle) Release() {
	if h == nil || !h.released.CompareAndSwap(false, true) {
		return
	}
	h.cleanup.Stop()
	if h.Owner != h.w.addr {
		h.w.releaseBorrow(h.ID)
		return
	}
	h.w.release(h.ID)
}

// Released says whether Release was called.
func (h *Handle) Released() bool { return h != nil && h.released.Load() }

// AddRef returns a new handle to an object this process owns (the count goes up by one).
func (w *Worker) AddRef(id string) *Handle {
	w.mu.Lock()
	w.table.AddLocal(id)
	w.mu.Unlock()
	return w.newHandle(id)
}

func (w *Worker) release(id string) {
	w.mu.Lock()
	acts := w.table.RemoveLocal(id)
	w.mu.Unlock()
	w.do(acts)
}

// do carries out the table's actions.
func (w *Worker) do(acts []ownership.Action) {
	if len(acts) == 0 {
		return
	}
	frees := map[string][]string{}
	for _, a := range acts {
		switch a.Kind {
		case ownership.FreeStored:
			frees[a.NodeID] = append(frees[a.NodeID], a.ID)
		case ownership.ReleaseBorrow:
			w.releaseBorrow(a.ID)
		case ownership.ActorOutOfScope:
			go w.reportOutOfScope(a.ID)
		case ownership.Resubmit:
			w.mu.Lock()
			k, ok := w.table.Task(a.TaskID)
			if ok {
				pt := k.Spec.(*pendingTask)
				w.beforeAttemptLocked(pt)
				w.startRecoveryLocked(a.TaskID)
				if pt.actor != nil {
					// An actor call made again goes to the back of its
					// caller's queue for the actor, once its arguments
					// are ready again.
					pt.resolved = false
					pt.actor.queue = append(pt.actor.queue, pt)
				}
			}
			w.mu.Unlock()
			if ok {
				w.enqueue(k.Spec.(*pendingTask))
			}
		}
	}
	for nodeID, ids := range frees {
		if w.local != nil && nodeID == w.local.ID() {
			w.local.ObjectStore().Delete(ids...)
			continue
		}
		go func() {
			addr := w.nodeAddress(nodeID)
			if addr == "" {
				return
			}
			c, err := w.pool.Get(addr)
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, _ = rpcpb.NewNodeManagerClient(c).FreeObjects(ctx, &rpcpb.FreeObjectsRequest{Ids: ids})
		}()
	}
}

// nodeAddress resolves a node id to its node manager address via the GCS.
func (w *Worker) nodeAddress(nodeID string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := w.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return ""
	}
	for _, n := range v.Nodes {
		if n.NodeId == nodeID && n.Alive {
			return n.Address
		}
	}
	return ""
}

// Put stores an encoded value owned by this process: inline when small, in
// the local node's object store when large.
func (w *Worker) Put(ctx context.Context, data []byte) (*Handle, error) {
	return w.PutContaining(ctx, data, nil)
}

// PutContaining is Put of a value holding the references refs (a Ref in a
// struct, a slice, a map): the object holds their objects until it is
// freed, so whoever reads it can borrow them (see runtime/ownership).
func (w *Worker) PutContaining(ctx context.Context, data []byte, refs []*Handle) (*Handle, error) {
	id := ids.Seq()
	var held []ownership.Ref
	if len(refs) > 0 {
		// Held from before the value can be read (holdLocked: handles on
		// this process's own objects, borrow holds on the others).
		w.mu.Lock()
		var acts []ownership.Action
		var err error
		held, acts, err = w.holdAllLocked(refs)
		w.mu.Unlock()
		w.do(acts)
		if err != nil {
			return nil, err
		}
	}
	loc := ownership.Location{Inline: data, Size: int64(len(data)), Contains: held}
	if len(data) > InlineThreshold {
		at := w.att.get()
		if err := w.storeAt(ctx, at, id, w.addr, data); err != nil {
			w.mu.Lock()
			acts := w.releaseHoldsLocked(held)
			w.mu.Unlock()
			w.do(acts)
			return nil, err
		}
		loc = ownership.Location{NodeID: at.id, Size: int64(len(data)), Contains: held}
	}
	w.mu.Lock()
	// AddPut counts the value's holds on this process's own objects
	// (Contained): the handles taken above for them go back. The borrow
	// holds stay, the value's own.
	w.table.AddPut(id, loc)
	var acts []ownership.Action
	for _, r := range held {
		if r.Owner == "" {
			acts = append(acts, w.table.RemoveLocal(r.ID)...)
		}
	}
	w.mu.Unlock()
	w.do(acts)
	return w.newHandle(id), nil
}

// PutSized stores a large value of size bytes that fill encodes: straight
// into the local store's memory when the node runs in this process, or
// into this worker's transfer segment (one copy, no heap allocation),
// else through a buffer streamed to the node.
func (w *Worker) PutSized(ctx context.Context, size int64, fill func(dst []byte)) (*Handle, error) {
	id := ids.Seq()
	at := w.att.get()
	if err := w.storeFill(ctx, at, id, w.addr, size, fill); err != nil {
		return nil, err
	}
	w.mu.Lock()
	w.table.AddPut(id, ownership.Location{NodeID: at.id, Size: size})
	w.mu.Unlock()
	return w.newHandle(id), nil
}

// reclaim is the local store's reclaimer: it runs the garbage collector so
// handles nobody holds any more free their objects, and waits (briefly) for
// those cleanups to run.
func (w *Worker) reclaim() {
	done := make(chan struct{})
	watchSentinel(done)
	runtime.GC()
	select {
	case <-done:
	case <-time.After(50 * time.Millisecond):
	}
	// Cleanups run concurrently: let the ones queued with the sentinel finish.
	for i := 0; i < 4; i++ {
		runtime.Gosched()
	}
}

// watchSentinel allocates an unreachable object whose cleanup closes done.
//
//go:noinline
func watchSentinel(done chan struct{}) {
	runtime.AddCleanup(&sentinel{}, func(ch chan struct{}) { close(ch) }, done)
}

// sentinel is an object big enough not to share a tiny-allocator block.
type sentinel struct {
	_ *sentinel // a pointer keeps it out of the tiny allocator
	_ [24]byte
}

// Get returns an object's encoded value, waiting until it is ready. The
// references the value contains are not held past the call: a caller that
// decodes them uses GetValue.
func (w *Worker) Get(ctx context.Context, id, owner string) ([]byte, error) {
	data, done, err := w.GetValue(ctx, id, owner)
	if err != nil {
		return nil, err
	}
	done()
	return data, nil
}

// GetValue is Get for a caller that decodes the value: the objects of the
// references inside it are held (for this process) until it calls done,
// after decoding (the decoded handles hold them from then on).
func (w *Worker) GetValue(ctx context.Context, id, owner string) (data []byte, done func(), err error) {
	if owner != w.addr {
		return w.getBorrowed(ctx, id, owner)
	}
	// A ready value in this process's memory without references inside
	// (Ray's common case: a small put or task result) is answered at
	// once: its bytes never change, so nothing needs holding.
	w.mu.Lock()
	e, ok := w.table.Get(id)
	if !ok {
		w.mu.Unlock()
		return nil, nil, &ObjectLostError{ObjectID: id, Reason: "no reference to it remains at its owner"}
	}
	if e.Ready && e.Loc.NodeID == "" && e.Loc.Err == nil && len(e.Loc.Contains) == 0 {
		data := e.Loc.Inline
		w.mu.Unlock()
		return data, noDone, nil
	}
	// getOwned's hold, under the same lock.
	w.table.AddLocal(id)
	first, ready := e.Done(), e.Ready
	w.mu.Unlock()
	return w.getOwned(ctx, id, first, ready)
}

// getOwned is GetValue of an object this process owns that is not ready,
// stored in a node, a failure, or holds references. GetValue took its hold
// on the object and found first to wait on (closed when ready).
func (w *Worker) getOwned(ctx context.Context, id string, first <-chan struct{}, ready bool) (data []byte, done func(), err error) {
	// Hold a reference while waiting: the caller's handle may become
	// unreachable once it passed the id (the GC then releases it), and an
	// object freed before its task finished would never become ready. On
	// success the hold lasts until done: the value's references are held
	// by the object.
	held := true
	var waited func() // counted as a wait (blocked.go) once it must wait or fetch
	defer func() {
		if held && err != nil {
			w.release(id)
		}
		if waited != nil {
			waited()
		}
	}()
	// release is the caller's done: the hold ends after decoding when the
	// value holds references, at once otherwise (no closure to keep).
	release := func(refs bool) func() {
		if !refs {
			held = false
			w.release(id)
			return noDone
		}
		return func() { w.release(id) }
	}
	wait := func() {
		if waited == nil {
			waited = w.Waiting()
		}
	}
	for done := first; ; done = nil {
		if done == nil {
			w.mu.Lock()
			e, ok := w.table.Get(id)
			if !ok {
				w.mu.Unlock()
				return nil, nil, &ObjectLostError{ObjectID: id, Reason: "no reference to it remains at its owner"}
			}
			done, ready = e.Done(), e.Ready
			w.mu.Unlock()
		}
		if !ready {
			wait()
		}
		select {
		case <-done:
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, nil, &GetTimeoutError{ObjectID: id}
			}
			return nil, nil, ctx.Err()
		}
		w.mu.Lock()
		e, ok := w.table.Get(id)
		if !ok || !e.Ready {
			w.mu.Unlock()
			continue
		}
		loc := e.Loc
		if loc.Err == nil && loc.NodeID == "" && len(loc.Contains) == 0 {
			// In memory without references inside: the hold ends under
			// this lock (the bytes never change).
			acts := w.table.RemoveLocal(id)
			held = false
			w.mu.Unlock()
			w.do(acts)
			return loc.Inline, noDone, nil
		}
		w.mu.Unlock()
		if loc.Err != nil {
			return nil, nil, loc.Err
		}
		if loc.NodeID == "" {
			return loc.Inline, release(len(loc.Contains) > 0), nil
		}
		if fetchingArgs(ctx) == notAnArg {
			wait()
		}
		data, ferr := w.fetch(ctx, id, w.addr, loc.NodeID, "")
		if ferr == nil {
			return data, release(len(loc.Contains) > 0), nil
		}
		if ctx.Err() != nil {
			return nil, nil, &GetTimeoutError{ObjectID: id}
		}
		// The stored copy is gone: rebuild it from lineage (or fail).
		lost := &ObjectLostError{ObjectID: id, Reason: "its copy on node " + loc.NodeID + " is gone and it cannot be rebuilt (put objects and tasks without retries left are not reconstructable)"}
		var dead *ObjectLostError
		w.mu.Lock()
		var acts []ownership.Action
		if errors.As(ferr, &dead) {
			// The node is dead (fetch asked the GCS): every object there
			// is lost, and a task with several of them runs once.
			acts = w.table.LostOn(loc.NodeID, lost)
		} else {
			acts = w.table.Lost(id, lost)
		}
		w.unthrottleRebuildLocked(id)
		w.mu.Unlock()
		w.do(acts)
	}
}

// argsKey marks the context of a task resolving its own arguments; its
// value is an argKind.
type argsKey struct{}

// argKind is what a task resolving an argument knows of it.
type argKind int

const (
	notAnArg argKind = iota
	// anArg: an argument that may not be ready yet (a reference the
	// task's submitter borrowed: its owner is another process).
	anArg
	// aReadyArg: an argument that was ready when the task was submitted
	// (its submitter owns it and waited for it: resolveLocked).
	aReadyArg
)

// fetchingArgs is what ctx says of the object being got: a task's own
// argument, ready or maybe not, or not an argument. The fetch of a ready
// argument is not counted as a wait (blocked.go), so the task keeps its
// CPUs while it reads it, as in Ray, whose raylet pulls a task's arguments
// before it runs the task, under the task's lease. (A task lending its CPUs
// while it reads its arguments makes its node start other tasks
// meanwhile, more than its CPUs, each needing a worker process of its
// own: the map tasks of a 2 GB sort, reading their blocks back from spill
// files, ran in 28 processes, each with cold memory.) Waiting for an
// argument that may not be ready still counts.
func fetchingArgs(ctx context.Context) argKind {
	k, _ := ctx.Value(argsKey{}).(argKind)
	return k
}

// noDone is GetValue's done when there is nothing to release.
func noDone() {}

// lostCopyWait bounds how long a borrower keeps asking the owner of an
// object whose stored copy it cannot fetch: long enough for the GCS to
// declare the node dead (its health timeout, 10 s by default) and for the
// owner to rebuild the object.
const lostCopyWait = 45 * time.Second

func (w *Worker) getBorrowed(ctx context.Context, id, owner string) ([]byte, func(), error) {
	c, err := w.pool.Get(owner)
	if err != nil {
		return nil, nil, &OwnerDiedError{ObjectID: id, Owner: owner}
	}
	// The owner registers this process as borrower of the references in
	// the value before it answers; adoptContains takes them over.
	req := &rpcpb.GetObjectRequest{Id: id, BorrowerAddress: w.addr}
	// Counted as a wait (blocked.go): the owner answers when the object is
	// ready; then the fetch. For a task's own arguments (fetchingArgs) the
	// fetch is not counted, nor the owner's answer for one that was ready
	// when the task was submitted.
	kind := fetchingArgs(ctx)
	args := kind != notAnArg
	end := func() {}
	if kind != aReadyArg {
		end = w.Waiting()
	}
	defer func() { end() }()
	var firstLoss time.Time
	for backoff := 50 * time.Millisecond; ; backoff = min(2*backoff, time.Second) {
		if dl, ok := ctx.Deadline(); ok {
			req.TimeoutMs = time.Until(dl).Milliseconds()
		}
		o, err := rpcpb.NewCoreWorkerClient(c).GetObject(ctx, req)
		if args {
			end()
			end = func() {}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, nil, &GetTimeoutError{ObjectID: id}
			}
			if status.Code(err) == codes.Unavailable {
				return nil, nil, &OwnerDiedError{ObjectID: id, Owner: owner}
			}
			return nil, nil, err
		}
		if o.Error != nil {
			return nil, nil, errorFromInfo(o.Error)
		}
		if err := ValidateContains(o.Contains); err != nil {
			return nil, nil, status.Errorf(codes.DataLoss, "object %s: its owner's answer: %v", id, err)
		}
		done := w.adoptContains(o.Contains)
		if !o.InStore {
			return o.Data, done, nil
		}
		data, err := w.fetch(ctx, id, owner, o.NodeId, o.NodeAddress)
		if err == nil {
			return data, done, nil
		}
		done() // this answer's registrations: the next answer makes its own
		if ctx.Err() != nil {
			return nil, nil, &GetTimeoutError{ObjectID: id}
		}
		// The owner may have died since it answered: its node then freed
		// the object, and the error to report is the owner's death.
		if ownerGone(ctx, c, id) {
			return nil, nil, &OwnerDiedError{ObjectID: id, Owner: owner}
		}
		// The copy's node may be dead: the owner, once the GCS agrees,
		// rebuilds the object from lineage (or fails it) and answers with
		// its new copy. Until then it answers with the same one, and the
		// borrower asks again a little later.
		if firstLoss.IsZero() {
			firstLoss = time.Now()
		}
		if time.Since(firstLoss) > lostCopyWait {
			return nil, nil, &ObjectLostError{ObjectID: id, Reason: err.Error()}
		}
		req.LostNodeId = o.NodeId
		if args {
			end = w.Waiting() // for the owner's next answer (a rebuilt copy)
		}
		select {
		case <-ctx.Done():
			return nil, nil, &GetTimeoutError{ObjectID: id}
		case <-time.After(backoff):
		}
	}
}

// copyLost is a borrower's report that node, which holds id's stored copy,
// is dead. If the GCS agrees (the owner does not take a borrower's word for
// it: a put object would fail for good), every object stored there is lost
// and rebuilt from lineage, as when the owner's own fetch fails.
func (w *Worker) copyLost(id, node string) {
	w.mu.Lock()
	e, ok := w.table.Get(id)
	current := ok && e.Ready && e.Loc.Err == nil && e.Loc.NodeID == node
	w.mu.Unlock()
	if !current || w.nodeAddress(node) != "" {
		return // rebuilt (or being rebuilt) already, or the node lives
	}
	lost := &ObjectLostError{ObjectID: id, Reason: "its copy on node " + node + " is gone and it cannot be rebuilt (put objects and tasks without retries left are not reconstructable)"}
	w.mu.Lock()
	acts := w.table.LostOn(node, lost)
	w.unthrottleRebuildLocked(id)
	w.mu.Unlock()
	w.do(acts)
}

// Ready reports whether an owned object is ready without blocking, and a
// channel closed when it becomes ready.
func (w *Worker) Ready(id string) (bool, <-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	e, ok := w.table.Get(id)
	if !ok {
		return true, nil
	}
	return e.Ready, e.Done()
}

// ReadyMany is Ready for n owned objects under one lock (a Wait on many
// refs): for each i with id(i) != "" it sets ready[i], and done[i] to a
// channel closed when the object becomes ready if it is not. id is called
// with the worker's lock held: it must only look its argument up.
func (w *Worker) ReadyMany(n int, id func(i int) string, ready []bool, done []<-chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range n {
		oid := id(i)
		if oid == "" {
			continue
		}
		e, ok := w.table.Get(oid)
		if !ok || e.Ready {
			ready[i] = true // gone: nothing to wait for (Get reports why)
			continue
		}
		ready[i], done[i] = false, e.Done()
	}
}

// GetObject serves an owned object's value or location to a borrower. For
// a value holding references it registers the reader (borrower_address) as
// their borrower first, holding the object meanwhile so its references stay
// held until the reader's registrations are in place.
func (w *Worker) GetObject(ctx context.Context, in *rpcpb.GetObjectRequest) (*rpcpb.Object, error) {
	if in.Id == "" {
		return nil, status.Error(codes.InvalidArgument, "object id is required")
	}
	if in.BorrowerAddress != "" {
		if err := ValidateAddress(in.BorrowerAddress); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "borrower address: %v", err)
		}
	}
	if in.TimeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(in.TimeoutMs)*time.Millisecond)
		defer cancel()
	}
	if in.LostNodeId != "" && !in.StatusOnly {
		w.copyLost(in.Id, in.LostNodeId)
	}
	for {
		w.mu.Lock()
		e, ok := w.table.Get(in.Id)
		if !ok {
			w.mu.Unlock()
			return &rpcpb.Object{Error: &rpcpb.ErrorInfo{Kind: rpcpb.ErrorInfo_OBJECT_LOST, ObjectId: in.Id, Message: "freed by its owner"}}, nil
		}
		if e.Ready {
			loc := e.Loc
			if in.StatusOnly {
				w.mu.Unlock()
				o := &rpcpb.Object{Size: loc.Size}
				if loc.Err != nil {
					o.Error = infoFromError(loc.Err)
				}
				return o, nil
			}
			register := len(loc.Contains) > 0 && loc.Err == nil && in.BorrowerAddress != ""
			if register {
				w.table.AddLocal(in.Id)
			}
			w.mu.Unlock()
			o := &rpcpb.Object{Size: loc.Size}
			switch {
			case loc.Err != nil:
				o.Error = infoFromError(loc.Err)
			case loc.NodeID != "":
				o.InStore, o.NodeId = true, loc.NodeID
				if w.local != nil && loc.NodeID == w.local.ID() {
					o.NodeAddress = w.local.Address()
				}
			default:
				o.Data = loc.Inline
			}
			if register {
				o.Contains = w.wireRefs(loc.Contains)
				w.registerFor(in.BorrowerAddress, o.Contains)
				w.release(in.Id)
			}
			return o, nil
		}
		done := e.Done()
		w.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
}
