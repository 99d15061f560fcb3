package node

import (
	"context"
	"errors"
	"io"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/objectstore"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A worker that needs an object stored on another node asks its own node
// for it (FetchObjectRequest.source_address), as Ray's workers ask their
// raylet: the node pulls the object into its store once, as a copy, and
// every worker of the node reads it from there. The copy is readable while
// it arrives: the first worker is answered chunk by chunk as the bytes
// come in, and so are other nodes that a relayPlan sends to this one
// (relays.go), which is what makes a broadcast a chain.

// relayHops bounds how many relays a pull follows before it asks the
// object's node for the bytes themselves.
const relayHops = 4

// pull is an object this node is pulling into its store.
type pull struct {
	id, owner string
	mu        sync.Mutex
	cond      *sync.Cond
	size      int64  // -1 until the first chunk
	buf       []byte // the store memory being filled (nil before the first chunk)
	have      int64  // bytes received, from the start
	readers   int    // readers copying out of buf now
	closing   bool   // the fill ends: readers finish from the store
	err       error
	finished  chan struct{} // closed when stored, or failed (err)
}

func newPull(id, owner string) *pull {
	p := &pull{id: id, owner: owner, size: -1, finished: make(chan struct{})}
	p.cond = sync.NewCond(&p.mu)
	return p
}

// errPullClosed: the pull's buffer is no longer readable; the bytes are in
// the store (or the pull failed: see err once finished is closed).
var errPullClosed = errors.New("pull ended")

// begin makes the bytes readable as they arrive into buf.
func (p *pull) begin(buf []byte) {
	p.mu.Lock()
	p.buf, p.size = buf, int64(len(buf))
	p.cond.Broadcast()
	p.mu.Unlock()
}

func (p *pull) advance(to int64) {
	p.mu.Lock()
	p.have = to
	p.cond.Broadcast()
	p.mu.Unlock()
}

// close ends reading from buf, waiting for readers copying out of it: the
// store may reuse the memory once the fill returns.
func (p *pull) close() {
	p.mu.Lock()
	p.closing = true
	p.cond.Broadcast()
	for p.readers > 0 {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

func (p *pull) finish(err error) {
	p.mu.Lock()
	p.err, p.closing = err, true
	p.cond.Broadcast()
	p.mu.Unlock()
	close(p.finished)
}

// sizeKnown waits for the object's size (the first chunk).
func (p *pull) sizeKnown(ctx context.Context) (int64, error) {
	stop := context.AfterFunc(ctx, p.wake)
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for p.size < 0 && !p.closing && ctx.Err() == nil {
		p.cond.Wait()
	}
	switch {
	case ctx.Err() != nil:
		return 0, ctx.Err()
	case p.size < 0:
		return 0, errPullClosed
	}
	return p.size, nil
}

func (p *pull) wake() {
	p.mu.Lock()
	p.cond.Broadcast()
	p.mu.Unlock()
}

// next waits for bytes past off and returns up to max of them, counted as
// read until release. It returns errPullClosed once the buffer is gone.
func (p *pull) next(ctx context.Context, off, max int64) ([]byte, error) {
	stop := context.AfterFunc(ctx, p.wake)
	defer stop()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closing && p.have <= off && ctx.Err() == nil {
		p.cond.Wait()
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if p.closing {
		return nil, errPullClosed
	}
	p.readers++
	return p.buf[off:min(p.have, off+max)], nil
}

func (p *pull) release() {
	p.mu.Lock()
	p.readers--
	p.cond.Broadcast()
	p.mu.Unlock()
}

// startPull returns the pull of object id under way, or starts one from
// the node at source; nil when the object is in the store already.
func (n *Node) startPull(id, owner, source string) *pull {
	n.pullsMu.Lock()
	defer n.pullsMu.Unlock()
	if p := n.pulls[id]; p != nil {
		return p
	}
	if n.Store.Contains(id) {
		return nil
	}
	p := newPull(id, owner)
	select {
	case <-n.stop:
		p.finish(status.Error(codes.Unavailable, "the node is stopping"))
		return p
	default:
	}
	n.pulls[id] = p
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go func() {
			select {
			case <-n.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		err := n.pullInto(ctx, p, owner, source)
		n.pullsMu.Lock()
		delete(n.pulls, id)
		n.pullsMu.Unlock()
		p.finish(err)
	}()
	return p
}

// pulling returns the pull of object id under way, if any.
func (n *Node) pulling(id string) *pull {
	n.pullsMu.Lock()
	defer n.pullsMu.Unlock()
	return n.pulls[id]
}

// pullSource is where a pull reads from: the object's node, or a relay it
// sent the pull to.
type pullSource struct {
	origin, addr string
	hops         int
}

func (s *pullSource) relayed() bool { return s.addr != s.origin }

// pullInto copies the object from source into the store.
func (n *Node) pullInto(ctx context.Context, p *pull, owner, source string) error {
	src := &pullSource{origin: source, addr: source}
	st, first, err := n.openPull(ctx, src, p.id, 0)
	if err != nil {
		return err
	}
	if first.TotalSize < 0 || first.TotalSize > maxObjectSize {
		return status.Errorf(codes.DataLoss, "object %s: size %d from %s", p.id, first.TotalSize, src.addr)
	}
	return n.Store.PutCopyFunc(p.id, owner, first.TotalSize, func(buf []byte) error {
		p.begin(buf)
		err := n.receive(ctx, p, src, st, first, buf)
		p.close()
		return err
	})
}

// openPull asks src for the object from byte off on, following relays,
// and returns the stream and its first chunk of bytes.
func (n *Node) openPull(ctx context.Context, src *pullSource, id string, off int64) (rpcpb.NodeManager_FetchObjectClient, *rpcpb.Chunk, error) {
	for {
		req := &rpcpb.FetchObjectRequest{Id: id, PullerAddress: n.addr, Offset: off, NoRelay: src.hops >= relayHops}
		st, first, err := n.fetchFirst(ctx, src.addr, req)
		if err != nil {
			if src.relayed() && ctx.Err() == nil {
				// The relay is gone or has no copy: the object's node sends it.
				src.addr, src.hops = src.origin, relayHops
				continue
			}
			return nil, nil, err
		}
		if first.RelayAddress == "" {
			return st, first, nil
		}
		if first.RelayAddress == n.addr {
			src.addr, src.hops = src.origin, relayHops // a chain that comes back here
			continue
		}
		src.addr = first.RelayAddress
		src.hops++
	}
}

func (n *Node) fetchFirst(ctx context.Context, addr string, req *rpcpb.FetchObjectRequest) (rpcpb.NodeManager_FetchObjectClient, *rpcpb.Chunk, error) {
	c, err := n.pool.Get(addr)
	if err != nil {
		return nil, nil, err
	}
	st, err := rpcpb.NewNodeManagerClient(c).FetchObject(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	first, err := st.Recv()
	if errors.Is(err, io.EOF) {
		return nil, nil, status.Errorf(codes.DataLoss, "object %s: %s sent nothing", req.Id, addr)
	}
	if err != nil {
		return nil, nil, err
	}
	return st, first, nil
}

// receive copies the chunks of st (from first on) into buf, in order. A
// relay that fails is replaced by the object's node, from where the bytes
// stopped.
func (n *Node) receive(ctx context.Context, p *pull, src *pullSource, st rpcpb.NodeManager_FetchObjectClient, c *rpcpb.Chunk, buf []byte) error {
	size := int64(len(buf))
	for {
		if c.TotalSize != size || c.Offset != p.have || c.Offset+int64(len(c.Data)) > size {
			return status.Errorf(codes.DataLoss, "object %s: chunk [%d,+%d) of %d bytes from %s, expected offset %d of %d", p.id, c.Offset, len(c.Data), c.TotalSize, src.addr, p.have, size)
		}
		copy(buf[c.Offset:], c.Data)
		p.advance(c.Offset + int64(len(c.Data)))
		var err error
		c, err = st.Recv()
		if errors.Is(err, io.EOF) {
			if p.have == size {
				return nil
			}
			err = status.Errorf(codes.DataLoss, "object %s: %s ended at %d of %d bytes", p.id, src.addr, p.have, size)
		}
		if err == nil {
			continue
		}
		if !src.relayed() || ctx.Err() != nil {
			return err
		}
		n.log.Printf("object %s: relay %s failed at %d of %d bytes (%v); the rest from %s", p.id, src.addr, p.have, size, err, src.origin)
		src.addr, src.hops = src.origin, relayHops
		if st, c, err = n.openPull(ctx, src, p.id, p.have); err != nil {
			return err
		}
	}
}

// sendPulling answers a fetch of an object being pulled: the bytes from
// off on as they arrive, and the rest from the store once it is there.
func (n *Node) sendPulling(p *pull, in *rpcpb.FetchObjectRequest, stream rpcpb.NodeManager_FetchObjectServer) error {
	ctx := stream.Context()
	size, err := p.sizeKnown(ctx)
	off := in.Offset
	if err == nil && (off < 0 || off > size) {
		return status.Errorf(codes.InvalidArgument, "offset %d of an object of %d bytes", off, size)
	}
	// A worker's object that fits its transfer segment is handed over
	// there whole, from the store.
	whole := in.LocalFile != "" && size <= objectstore.SegmentSize
	for err == nil && !whole {
		if off == size && size > 0 {
			return nil
		}
		var data []byte
		if data, err = p.next(ctx, off, rpcutil.ChunkSize); err != nil {
			break
		}
		err = stream.Send(&rpcpb.Chunk{Id: in.Id, TotalSize: size, Offset: off, Data: data})
		p.release()
		if err != nil {
			return err
		}
		off += int64(len(data))
	}
	if err != nil && !errors.Is(err, errPullClosed) {
		return status.FromContextError(err).Err()
	}
	select {
	case <-p.finished:
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
	if p.err != nil {
		return pullError(p.id, p.err)
	}
	in.Offset = off
	return n.sendStored(in, stream)
}

// pullError is the answer to a fetch whose pull failed: the source's
// NotFound as such (the object is gone), anything else as Unavailable.
func pullError(id string, err error) error {
	if status.Code(err) == codes.NotFound {
		return err
	}
	return status.Errorf(codes.Unavailable, "pull of object %s: %v", id, err)
}

// relayFor decides, for a node pulling object id, whether another node in
// the chain serves it (its address) or this one does (""; then done ends
// this node's stream). has tells whether this node has the object at all.
func (n *Node) relayFor(in *rpcpb.FetchObjectRequest) (relay string, done func(), has bool) {
	n.pullsMu.Lock()
	defer n.pullsMu.Unlock()
	if n.pulls[in.Id] == nil && !n.Store.Contains(in.Id) {
		return "", nil, false
	}
	c := n.copiesLocked(in.Id)
	c.holders[in.PullerAddress] = struct{}{}
	if p := n.pulls[in.Id]; p != nil {
		c.owner = p.owner
	} else {
		c.owner = n.Store.OwnerOf(in.Id)
	}
	if in.Offset != 0 {
		// A pull resumed after its relay failed: the bytes from here.
		in.NoRelay = true
	}
	if relay = n.relays.assign(in.Id, in.PullerAddress, !in.NoRelay); relay != "" {
		return relay, nil, true
	}
	return "", func() {
		n.pullsMu.Lock()
		n.relays.done(in.Id)
		n.pullsMu.Unlock()
	}, true
}

// copies are the nodes that pulled an object from this one: when it is
// freed here, they are told to free their copies too.
type copies struct {
	owner   string
	holders map[string]struct{}
}

func (n *Node) copiesLocked(id string) *copies {
	c := n.copies[id]
	if c == nil {
		c = &copies{holders: map[string]struct{}{}}
		n.copies[id] = c
	}
	return c
}

// forwardFrees tells the nodes that pulled any of ids (or, with owner, any
// object of that owner) from this node to free their copies; they tell the
// nodes that pulled from them in turn.
func (n *Node) forwardFrees(ids []string, owner string) {
	n.pullsMu.Lock()
	byHolder := map[string][]string{}
	for _, id := range ids {
		if c := n.copies[id]; c != nil {
			for h := range c.holders {
				byHolder[h] = append(byHolder[h], id)
			}
			delete(n.copies, id)
		}
	}
	if owner != "" {
		for id, c := range n.copies {
			if c.owner == owner {
				for h := range c.holders {
					byHolder[h] = append(byHolder[h], id)
				}
				delete(n.copies, id)
			}
		}
	}
	n.pullsMu.Unlock()
	for h, ids := range byHolder {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := n.pool.Get(h)
			if err != nil {
				return
			}
			if _, err := rpcpb.NewNodeManagerClient(c).FreeObjects(ctx, &rpcpb.FreeObjectsRequest{Ids: ids}); err != nil && status.Code(err) != codes.Unavailable {
				n.log.Printf("free %d copies on %s: %v", len(ids), h, err)
			}
		}()
	}
}

// sendStored streams a stored object from in.Offset on (or hands a worker
// of this node the whole object in its transfer segment).
func (n *Node) sendStored(in *rpcpb.FetchObjectRequest, stream rpcpb.NodeManager_FetchObjectServer) error {
	if in.LocalFile != "" && in.Offset == 0 {
		// Into the worker's segment straight from store memory or the
		// spill file (no buffer of the whole object on the way).
		inSegment := false
		err := n.Store.ReadTo(in.Id, func(size int64, copyTo func(dst []byte) error) error {
			if size <= objectstore.SegmentSize && n.segments.FillTo(in.LocalFile, size, copyTo) == nil {
				inSegment = true
				return stream.Send(&rpcpb.Chunk{Id: in.Id, TotalSize: size, LocalFile: in.LocalFile})
			}
			return nil // too large, or no segment to write (a full /dev/shm): sent below
		})
		if errors.Is(err, objectstore.ErrNotFound) {
			return status.Errorf(codes.NotFound, "object %s is not on node %s", in.Id, n.ID())
		}
		if inSegment {
			return err
		}
		if err != nil {
			return status.Error(codes.Internal, err.Error())
		}
	}
	sent := false
	err := n.Store.Read(in.Id, func(data []byte) error {
		sent = true
		total := int64(len(data))
		if in.Offset < 0 || in.Offset > total {
			return status.Errorf(codes.InvalidArgument, "offset %d of an object of %d bytes", in.Offset, total)
		}
		if in.LocalFile != "" && in.Offset == 0 && total <= objectstore.SegmentSize {
			if err := n.segments.CopyTo(in.LocalFile, data); err == nil {
				return stream.Send(&rpcpb.Chunk{Id: in.Id, TotalSize: total, LocalFile: in.LocalFile})
			}
			// No segment to write (a full /dev/shm): send the bytes.
		}
		for off := in.Offset; off < total || off == 0; off += rpcutil.ChunkSize {
			end := min(off+rpcutil.ChunkSize, total)
			if err := stream.Send(&rpcpb.Chunk{Id: in.Id, TotalSize: total, Offset: off, Data: data[off:end]}); err != nil {
				return err
			}
			if end == total {
				break
			}
		}
		return nil
	}, false)
	if errors.Is(err, objectstore.ErrNotFound) {
		return status.Errorf(codes.NotFound, "object %s is not on node %s", in.Id, n.ID())
	}
	if err != nil && !sent {
		return status.Error(codes.Internal, err.Error())
	}
	return err
}
