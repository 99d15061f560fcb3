package core

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Borrowing: references that travel inside values (Ray's borrower
// protocol). The bookkeeping and the reasons it is safe are in
// runtime/ownership (the owner's Table and the borrower's Borrows); this file
// carries out their actions: registrations at owners, in batches per owner,
// and the owner's check that its borrowers still live.

// Limits of an UpdateBorrows request (outside input: any process may call).
const (
	maxBorrowUpdate = 10_000 // ids added plus ids removed
	maxRefIDLen     = 128
	maxAddrLen      = 256
	maxBorrowCount  = 1 << 20
)

// borrowRPCTimeout bounds one registration round trip: a registration that
// does not answer in time counts as refused (the object reads as lost or its
// owner as dead), and a task's reply waits at most about this long for it.
const borrowRPCTimeout = 10 * time.Second

// borrowerCheckEvery is how often an owner asks whether its borrowers still
// live; one that does not answer twice in a row is dead, and its
// registrations go (so a borrower that crashed frees what it held).
const borrowerCheckEvery = 3 * time.Second

// borrowCollectEvery is how often a process that borrows objects (or owns
// actors whose handles are counted) makes sure the garbage collector ran: a
// borrowed Ref (or an actor handle) nobody uses any more is released by its
// handle's cleanup, which needs a collection, and an idle worker may
// otherwise never collect — its owner would keep the object for
// as long. Processes that allocate collect on their own, and then this adds
// nothing.
const borrowCollectEvery = 2 * time.Second

// borrowState is the borrower side's I/O state, under Worker.mu.
type borrowState struct {
	tab *ownership.Borrows
	// queued registrations and removals by owner address, sent by one
	// goroutine per owner (busy) in batches.
	adds    map[string][]string
	removes map[string][]*rpcpb.BorrowCount
	busy    map[string]bool
	// flushed is closed when no registration of this process is in flight
	// (nil: none is): a task's reply waits for it.
	flushed chan struct{}
	// inFlight mirrors flushed != nil, read without the lock: a task whose
	// values held no reference (nearly all) replies without taking it.
	inFlight atomic.Bool
}

func newBorrowState() borrowState {
	return borrowState{tab: ownership.NewBorrows(), adds: map[string][]string{}, removes: map[string][]*rpcpb.BorrowCount{}, busy: map[string]bool{}}
}

func (w *Worker) newBorrowedHandle(id, owner string) *Handle {
	h := &Handle{ID: id, Owner: owner, w: w}
	h.cleanup = runtime.AddCleanup(h, func(id string) { w.releaseBorrow(id) }, id)
	return h
}

// Borrow returns a handle to the object id owned by the process at owner,
// decoded from a value this process received (a Ref inside an argument, a
// result or an object). A reference to an object of this process's own is
// an ordinary handle. Otherwise this process becomes a borrower: registered
// at the owner unless a registration made for it already covers the object
// (see ownership.Borrows.Hold); its task replies wait for that registration.
func (w *Worker) Borrow(id, owner string) *Handle {
	if owner == w.addr {
		return w.AddRef(id)
	}
	w.mu.Lock()
	w.queueBorrowsLocked(w.bor.tab.Hold(id, owner))
	w.mu.Unlock()
	return w.newBorrowedHandle(id, owner)
}

func (w *Worker) releaseBorrow(id string) {
	w.mu.Lock()
	w.queueBorrowsLocked(w.bor.tab.Release(id))
	w.mu.Unlock()
}

// ErrReleasedRef is the error of a Ref used after its Release.
var ErrReleasedRef = errors.New("the Ref was released")

// holdLocked takes one more hold on h's object for a value or a task that
// carries it (released with releaseHoldsLocked).
func (w *Worker) holdLocked(h *Handle) (ownership.Ref, error) {
	if h.Released() {
		return ownership.Ref{}, fmt.Errorf("object %s: %w", h.ID, ErrReleasedRef)
	}
	if h.Owner == w.addr {
		w.table.AddLocal(h.ID)
		return ownership.Ref{ID: h.ID}, nil
	}
	if !w.bor.tab.Take(h.ID) {
		return ownership.Ref{}, fmt.Errorf("object %s: this process holds no reference to it", h.ID)
	}
	return ownership.Ref{ID: h.ID, Owner: h.Owner}, nil
}

// holdAllLocked is holdLocked for each handle; on an error it takes none.
func (w *Worker) holdAllLocked(hs []*Handle) ([]ownership.Ref, []ownership.Action, error) {
	refs := make([]ownership.Ref, 0, len(hs))
	for _, h := range hs {
		r, err := w.holdLocked(h)
		if err != nil {
			return nil, w.releaseHoldsLocked(refs), err
		}
		refs = append(refs, r)
	}
	return refs, nil, nil
}

// releaseHoldsLocked drops holds taken by holdLocked.
func (w *Worker) releaseHoldsLocked(refs []ownership.Ref) []ownership.Action {
	var acts []ownership.Action
	for _, r := range refs {
		acts = append(acts, w.releaseHoldLocked(r)...)
	}
	return acts
}

// releaseHoldLocked drops one hold taken by holdLocked.
func (w *Worker) releaseHoldLocked(r ownership.Ref) []ownership.Action {
	if r.Owner == "" {
		return w.table.RemoveLocal(r.ID)
	}
	w.queueBorrowsLocked(w.bor.tab.Release(r.ID))
	return nil
}

// queueBorrowsLocked carries out the borrow table's actions: registrations
// and removals go to their owner in the next batch of its sender.
func (w *Worker) queueBorrowsLocked(acts []ownership.BorrowAction) {
	for _, a := range acts {
		switch a.Kind {
		case ownership.Register:
			w.bor.adds[a.Owner] = append(w.bor.adds[a.Owner], a.ID)
			if w.bor.flushed == nil {
				w.bor.flushed = make(chan struct{})
				w.bor.inFlight.Store(true)
			}
		case ownership.Unregister:
			w.bor.removes[a.Owner] = append(w.bor.removes[a.Owner], &rpcpb.BorrowCount{Id: a.ID, N: int32(min(a.N, maxBorrowCount))})
		}
		if !w.bor.busy[a.Owner] {
			w.bor.busy[a.Owner] = true
			go w.sendBorrows(a.Owner)
		}
	}
}

// sendBorrows sends the registrations and removals queued for owner until
// none is left. Registrations answer into the borrow table; removals are
// not retried (an owner that does not answer is dead, or finds this process
// gone once it is).
func (w *Worker) sendBorrows(owner string) {
	for {
		w.mu.Lock()
		adds, removes := w.bor.adds[owner], w.bor.removes[owner]
		if len(adds)+len(removes) > maxBorrowUpdate {
			// One request carries at most maxBorrowUpdate ids: the rest go next.
			if len(adds) > maxBorrowUpdate {
				adds = adds[:maxBorrowUpdate]
			}
			removes = removes[:min(len(removes), maxBorrowUpdate-len(adds))]
		}
		w.bor.adds[owner] = w.bor.adds[owner][len(adds):]
		w.bor.removes[owner] = w.bor.removes[owner][len(removes):]
		if len(adds)+len(removes) == 0 {
			delete(w.bor.adds, owner)
			delete(w.bor.removes, owner)
			delete(w.bor.busy, owner)
			w.mu.Unlock()
			return
		}
		w.mu.Unlock()
		added := w.updateBorrows(owner, &rpcpb.BorrowUpdate{BorrowerAddress: w.addr, Add: adds, Remove: removes})
		w.mu.Lock()
		for i, id := range adds {
			w.queueBorrowsLocked(w.bor.tab.Registered(id, i < len(added) && added[i]))
		}
		if w.bor.flushed != nil && w.bor.tab.Flushed() {
			w.closeFlushedLocked()
		}
		w.mu.Unlock()
	}
}

// updateBorrows sends one update to owner; it returns, for each add,
// whether it was registered (none when the owner did not answer).
func (w *Worker) updateBorrows(owner string, u *rpcpb.BorrowUpdate) []bool {
	if owner == w.addr {
		rep, _ := w.UpdateBorrows(context.Background(), u)
		return rep.GetAdded()
	}
	c, err := w.pool.Get(owner)
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(w.baseCtx, borrowRPCTimeout)
	defer cancel()
	rep, err := rpcpb.NewCoreWorkerClient(c).UpdateBorrows(ctx, u)
	if err != nil {
		return nil
	}
	return rep.Added
}

// flushBorrows waits until this process's registrations in flight are
// answered: a task's reply goes only then, so the references its arguments
// held can be released by its submitter (see runtime/ownership).
func (w *Worker) flushBorrows() {
	if !w.bor.inFlight.Load() {
		return
	}
	w.mu.Lock()
	ch := w.bor.flushed
	w.mu.Unlock()
	if ch == nil {
		return
	}
	select {
	case <-ch:
	case <-time.After(2 * borrowRPCTimeout):
		// Each registration fails within borrowRPCTimeout; this bounds a
		// stream of new ones keeping the channel open.
	case <-w.baseCtx.Done():
	}
}

// closeFlushedLocked wakes the replies waiting for this process's
// registrations.
func (w *Worker) closeFlushedLocked() {
	close(w.bor.flushed)
	w.bor.flushed = nil
	w.bor.inFlight.Store(false)
}

// UpdateBorrows registers and removes a borrower's holds on objects this
// process owns.
func (w *Worker) UpdateBorrows(ctx context.Context, in *rpcpb.BorrowUpdate) (*rpcpb.BorrowUpdateReply, error) {
	if err := ValidateBorrowUpdate(in); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	self := in.BorrowerAddress == w.addr
	rep := &rpcpb.BorrowUpdateReply{Added: make([]bool, len(in.Add))}
	var acts []ownership.Action
	w.mu.Lock()
	for i, id := range in.Add {
		if self {
			rep.Added[i] = w.table.AddContained(id, 1)
		} else {
			rep.Added[i] = w.table.AddBorrower(id, in.BorrowerAddress, 1)
		}
	}
	for _, r := range in.Remove {
		if self {
			acts = append(acts, w.table.RemoveContained(r.Id, int(r.N))...)
		} else {
			acts = append(acts, w.table.RemoveBorrower(r.Id, in.BorrowerAddress, int(r.N))...)
		}
	}
	w.mu.Unlock()
	w.do(acts)
	return rep, nil
}

// ValidateBorrowUpdate checks an UpdateBorrows request from another process:
// bounded sizes, a host:port borrower, object ids of the form this runtime
// makes, positive counts.
func ValidateBorrowUpdate(in *rpcpb.BorrowUpdate) error {
	if err := ValidateAddress(in.GetBorrowerAddress()); err != nil {
		return fmt.Errorf("borrower address: %w", err)
	}
	if n := len(in.Add) + len(in.Remove); n > maxBorrowUpdate {
		return fmt.Errorf("%d ids in one update, at most %d", n, maxBorrowUpdate)
	}
	for _, id := range in.Add {
		if err := ValidateObjectID(id); err != nil {
			return err
		}
	}
	for _, r := range in.Remove {
		if err := ValidateObjectID(r.GetId()); err != nil {
			return err
		}
		if r.N <= 0 || r.N > maxBorrowCount {
			return fmt.Errorf("object %s: count %d, want 1 to %d", r.Id, r.N, maxBorrowCount)
		}
	}
	return nil
}

// ValidateObjectID checks an object id from outside: 1 to 128 letters,
// digits, '.', '_' or '-' (ids.Seq, ids.Return and ids.Item make these).
func ValidateObjectID(id string) error {
	if id == "" || len(id) > maxRefIDLen {
		return fmt.Errorf("object id of %d bytes, want 1 to %d", len(id), maxRefIDLen)
	}
	for i := 0; i < len(id); i++ {
		if !idByte(id[i]) {
			return fmt.Errorf("object id %q: byte %d is not a letter, digit, '.', '_' or '-'", id, i)
		}
	}
	return nil
}

func idByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c == '.' || c == '_' || c == '-'
}

// ValidateAddress checks a process address from outside: host:port, at
// most 256 bytes, a port from 1 to 65535.
func ValidateAddress(addr string) error {
	if addr == "" || len(addr) > maxAddrLen {
		return fmt.Errorf("address of %d bytes, want 1 to %d", len(addr), maxAddrLen)
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "" {
		return fmt.Errorf("address %q has no host", addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("address %q: port is not 1 to 65535", addr)
	}
	return nil
}

// maxContains bounds the references one value may hold (Object.contains
// from another process).
const maxContains = 1 << 20

// ValidateContains checks the references another process says a value
// holds (a task's result, a GetObject answer): bounded in number, ids and
// owner addresses of the forms this runtime makes.
func ValidateContains(refs []*rpcpb.ObjectRef) error {
	if len(refs) > maxContains {
		return fmt.Errorf("a value holding %d references, at most %d", len(refs), maxContains)
	}
	for _, r := range refs {
		if err := ValidateObjectID(r.GetId()); err != nil {
			return err
		}
		if err := ValidateAddress(r.GetOwnerAddress()); err != nil {
			return fmt.Errorf("object %s: owner: %w", r.Id, err)
		}
	}
	return nil
}

// registerFor registers the process at borrower as borrower of each of
// refs (full owner addresses): here for this process's own objects, by
// UpdateBorrows at their owners otherwise. The caller holds the objects
// meanwhile. An owner that does not answer is dead or unreachable: the
// borrower's Get then reports it.
func (w *Worker) registerFor(borrower string, refs []*rpcpb.ObjectRef) {
	byOwner := map[string][]string{}
	for _, r := range refs {
		byOwner[r.OwnerAddress] = append(byOwner[r.OwnerAddress], r.Id)
	}
	if own := byOwner[w.addr]; len(own) > 0 {
		delete(byOwner, w.addr)
		w.mu.Lock()
		for _, id := range own {
			if borrower == w.addr {
				w.table.AddContained(id, 1)
			} else {
				w.table.AddBorrower(id, borrower, 1)
			}
		}
		w.mu.Unlock()
	}
	var wg sync.WaitGroup
	for owner, ids := range byOwner {
		for len(ids) > 0 {
			n := min(len(ids), maxBorrowUpdate)
			batch := ids[:n]
			ids = ids[n:]
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.updateBorrows(owner, &rpcpb.BorrowUpdate{BorrowerAddress: borrower, Add: batch})
			}()
		}
	}
	wg.Wait()
}

// adoptContains takes over the registrations an owner (or a task's
// executor) made for this process on the references in a value it sent
// (Object.contains), as holds; the returned function drops them (once the
// value is decoded: its handles took holds of their own).
func (w *Worker) adoptContains(refs []*rpcpb.ObjectRef) func() {
	if len(refs) == 0 {
		return noDone
	}
	w.mu.Lock()
	held := w.adoptLocked(refs)
	w.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			w.mu.Lock()
			acts := w.table.ReleaseContains(held)
			w.mu.Unlock()
			w.do(acts)
		})
	}
}

// adoptLocked records the registrations made for this process on refs: for
// its own objects the owner side counted them already (UpdateBorrows from
// self), for others they become borrow holds. It returns them in the
// table's form (Owner "" for its own).
func (w *Worker) adoptLocked(refs []*rpcpb.ObjectRef) []ownership.Ref {
	out := make([]ownership.Ref, len(refs))
	for i, r := range refs {
		if r.OwnerAddress == w.addr {
			out[i] = ownership.Ref{ID: r.Id}
			continue
		}
		w.bor.tab.Adopt(r.Id, r.OwnerAddress)
		out[i] = ownership.Ref{ID: r.Id, Owner: r.OwnerAddress}
	}
	return out
}

// wireRefs turns a value's contained references into their wire form.
func (w *Worker) wireRefs(refs []ownership.Ref) []*rpcpb.ObjectRef {
	if len(refs) == 0 {
		return nil
	}
	out := make([]*rpcpb.ObjectRef, len(refs))
	for i, r := range refs {
		owner := r.Owner
		if owner == "" {
			owner = w.addr
		}
		out[i] = &rpcpb.ObjectRef{Id: r.ID, OwnerAddress: owner}
	}
	return out
}

// resultRefs carries, from the SDK's encoding of a task's result to the
// executor, the references the result holds (SetResultRefs).
type resultRefs struct{ hs []*Handle }

type resultRefsKey struct{}

// SetResultRefs tells the executor running the task of ctx which references
// its encoded result holds: the executor registers the result's owner as
// their borrower before it replies. False outside a task's execution.
func SetResultRefs(ctx context.Context, hs []*Handle) bool {
	rr, ok := ctx.Value(resultRefsKey{}).(*resultRefs)
	if !ok {
		return false
	}
	rr.hs = hs
	return true
}

// registerResultRefs registers the owner of a task's result as borrower of
// the references the result holds and returns them in wire form. The
// handles are kept alive until then: the result's owner is registered
// before this process can drop its own references.
func (w *Worker) registerResultRefs(owner string, hs []*Handle) []*rpcpb.ObjectRef {
	refs := make([]*rpcpb.ObjectRef, len(hs))
	for i, h := range hs {
		refs[i] = &rpcpb.ObjectRef{Id: h.ID, OwnerAddress: h.Owner}
	}
	w.registerFor(owner, refs)
	runtime.KeepAlive(hs)
	return refs
}

// watchBorrowers drops the registrations of borrowers that no longer
// answer (their process ended or crashed).
func (w *Worker) watchBorrowers(ctx context.Context) {
	t := time.NewTicker(borrowerCheckEvery)
	defer t.Stop()
	missed := map[string]int{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		addrs := w.table.BorrowerAddrs()
		w.mu.Unlock()
		// Asked at once (up to 32 at a time): a borrower that hangs costs
		// its own timeout, not the others' turn.
		answers := make([]bool, len(addrs))
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i, addr := range addrs {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				answers[i] = borrowerAnswers(ctx, w, addr)
			}()
		}
		wg.Wait()
		seen := map[string]bool{}
		for i, addr := range addrs {
			seen[addr] = true
			if answers[i] {
				delete(missed, addr)
				continue
			}
			if missed[addr]++; missed[addr] < 2 {
				continue
			}
			delete(missed, addr)
			w.mu.Lock()
			acts := w.table.BorrowerDied(addr)
			w.mu.Unlock()
			w.do(acts)
		}
		for addr := range missed {
			if !seen[addr] {
				delete(missed, addr)
			}
		}
	}
}

// borrowerAnswers reports whether a process answers at addr; only "nothing
// listens there" counts as no (a slow process is alive).
func borrowerAnswers(ctx context.Context, w *Worker, addr string) bool {
	c, err := w.pool.Get(addr)
	if err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = rpcpb.NewCoreWorkerClient(c).Ping(ctx, &rpcpb.PingRequest{})
	return status.Code(err) != codes.Unavailable
}

// ReadyRemote returns a channel closed once the object id, owned by the
// process at owner, is ready there (or failed, or freed) — or once the owner
// is unreachable: a Get then reports OwnerDiedError. It asks the owner with
// a status-only GetObject until ctx ends.
func (w *Worker) ReadyRemote(ctx context.Context, id, owner string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		c, err := w.pool.Get(owner)
		if err != nil {
			close(done)
			return
		}
		req := &rpcpb.GetObjectRequest{Id: id, StatusOnly: true}
		for {
			if dl, ok := ctx.Deadline(); ok {
				req.TimeoutMs = max(1, time.Until(dl).Milliseconds())
			}
			_, err := rpcpb.NewCoreWorkerClient(c).GetObject(ctx, req)
			if ctx.Err() != nil {
				return
			}
			switch status.Code(err) {
			case codes.DeadlineExceeded, codes.Canceled:
				// The owner's wait ended before ours (clocks differ): ask again.
				time.Sleep(10 * time.Millisecond)
				continue
			}
			// Ready, failed or freed at the owner, or the owner is gone.
			close(done)
			return
		}
	}()
	return done
}

// Holds are references taken for a task's arguments or an actor's
// constructor (Hold): the objects stay while they are held, however the
// caller's own handles go meanwhile.
type Holds struct {
	refs []ownership.Ref
}

// Hold takes one more hold on each handle's object for a value about to be
// sent (the references inside a task's arguments, and the arguments that
// are references to objects other processes own); Release drops them. It
// fails, taking none, when a handle was released.
func (w *Worker) Hold(hs []*Handle) (*Holds, error) {
	if len(hs) == 0 {
		return nil, nil
	}
	w.mu.Lock()
	refs, acts, err := w.holdAllLocked(hs)
	w.mu.Unlock()
	w.do(acts)
	if err != nil {
		return nil, err
	}
	return &Holds{refs: refs}, nil
}

// ReleaseHolds drops the holds (once; nil does nothing).
func (w *Worker) ReleaseHolds(h *Holds) {
	if h == nil {
		return
	}
	w.mu.Lock()
	acts := w.releaseHoldsOnceLocked(h)
	w.mu.Unlock()
	w.do(acts)
}

func (w *Worker) releaseHoldsOnceLocked(h *Holds) []ownership.Action {
	if h == nil {
		return nil
	}
	refs := h.refs
	h.refs = nil
	return w.releaseHoldsLocked(refs)
}

// collectBorrows runs the garbage collector when this process borrows
// objects and no collection ran for borrowCollectEvery (see there).
func (w *Worker) collectBorrows(ctx context.Context) {
	t := time.NewTicker(borrowCollectEvery)
	defer t.Stop()
	sample := []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}
	cycles := func() uint64 {
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return sample[0].Value.Uint64()
	}
	last := cycles()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := cycles()
		w.mu.Lock()
		// Owned actors' handles are released by their cleanups too.
		borrowing := w.bor.tab.Len() > 0 || w.table.Actors() > 0
		w.mu.Unlock()
		if borrowing && now == last {
			runtime.GC()
			now = cycles()
		}
		last = now
	}
}

// dropBorrows removes this process's registrations at their owners as it
// shuts down (bounded: an owner that does not answer finds it gone).
func (w *Worker) dropBorrows() {
	w.mu.Lock()
	acts := w.bor.tab.DropAll()
	if w.bor.flushed != nil {
		w.closeFlushedLocked() // nothing to wait for any more
	}
	w.mu.Unlock()
	byOwner := map[string][]*rpcpb.BorrowCount{}
	for _, a := range acts {
		byOwner[a.Owner] = append(byOwner[a.Owner], &rpcpb.BorrowCount{Id: a.ID, N: int32(min(a.N, maxBorrowCount))})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for owner, removes := range byOwner {
		c, err := w.pool.Get(owner)
		if err != nil {
			continue
		}
		for len(removes) > 0 {
			batch := removes[:min(len(removes), maxBorrowUpdate)]
			removes = removes[len(batch):]
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _ = rpcpb.NewCoreWorkerClient(c).UpdateBorrows(ctx, &rpcpb.BorrowUpdate{BorrowerAddress: w.addr, Remove: batch})
			}()
		}
	}
	wg.Wait()
}

// refJSON is a Ref's JSON form inside an encoded value.
type refJSON struct {
	ID    string `json:"goray_ref"`
	Owner string `json:"owner"`
}

// MaxRefJSON bounds the JSON form of one Ref a decoder accepts: an id and
// an address, with room for escapes.
const MaxRefJSON = 1024

// MarshalRefJSON writes a reference's JSON form: {"goray_ref": id, "owner": address}.
func MarshalRefJSON(id, owner string) ([]byte, error) {
	return json.Marshal(refJSON{ID: id, Owner: owner})
}

// ParseRefJSON reads and checks a reference's JSON form: bytes from another
// process (or anywhere a user got them), so bounded in size, exactly the two
// fields, an id as this runtime makes them and a host:port owner.
func ParseRefJSON(b []byte) (id, owner string, err error) {
	if len(b) > MaxRefJSON {
		return "", "", fmt.Errorf("ref: %d bytes of JSON, at most %d", len(b), MaxRefJSON)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var x refJSON
	if err := dec.Decode(&x); err != nil {
		return "", "", fmt.Errorf("ref: %w", err)
	}
	if dec.More() {
		return "", "", errors.New("ref: data after the JSON object")
	}
	if err := ValidateObjectID(x.ID); err != nil {
		return "", "", fmt.Errorf("ref: %w", err)
	}
	if err := ValidateAddress(x.Owner); err != nil {
		return "", "", fmt.Errorf("ref: owner: %w", err)
	}
	return x.ID, x.Owner, nil
}
