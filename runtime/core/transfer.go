package core

// The bytes of stored objects between this worker and the nodes: a large
// put, result or generator item written into its node's store (through
// this worker's transfer segment in shared memory when the node is its
// own, in chunks otherwise), and a stored object fetched back.

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/objectstore"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// storeReturn stores a large encoded return, result or generator item in
// this worker's node (a Fill straight into the memory it is handed over
// in) and locates it there.
func (w *Worker) storeReturn(ctx context.Context, id, owner string, r Return) (*rpcpb.Object, error) {
	at := w.att.get()
	var err error
	if r.Fill != nil {
		err = w.storeFill(ctx, at, id, owner, r.Size, r.Fill)
	} else {
		err = w.storeAt(ctx, at, id, owner, r.Data)
	}
	if err != nil {
		return nil, err
	}
	return &rpcpb.Object{InStore: true, NodeId: w.nodeID, NodeAddress: w.cfg.NodeAddress, Size: r.size()}, nil
}

// storeAt writes a large value into the store of at's node (a driver's
// attachment can change; its caller records the node it wrote to). The
// node frees it when its owner is gone (see lifetime.go).
func (w *Worker) storeAt(ctx context.Context, at *attachment, id, owner string, data []byte) error {
	if w.local != nil {
		return w.local.ObjectStore().PutFor(id, owner, data) // the store takes the slice: no copy
	}
	size := int64(len(data))
	if done, err := w.storeInSegment(ctx, at, id, owner, size, func(dst []byte) { copy(dst, data) }); done {
		return err
	}
	return sendChunks(ctx, at, id, owner, data)
}

// storeFill is storeAt of a value of size bytes that fill writes: into
// the store's memory when the node runs in this process, into this
// worker's transfer segment for its own node, so the value is written
// once on this side; else into a buffer sent in chunks. A segment without
// room (a full /dev/shm) faults during fill: fill then runs again, into
// the buffer.
func (w *Worker) storeFill(ctx context.Context, at *attachment, id, owner string, size int64, fill func(dst []byte)) error {
	if w.local != nil {
		return w.local.ObjectStore().PutFuncFor(id, owner, size, func(dst []byte) error {
			fill(dst)
			return nil
		})
	}
	if done, err := w.storeInSegment(ctx, at, id, owner, size, fill); done {
		return err
	}
	data := make([]byte, size)
	fill(data)
	return sendChunks(ctx, at, id, owner, data)
}

// storeInSegment hands a value that fill writes to this worker's own node
// in its transfer segment. It reports false (and nothing stored) when the
// value must go in chunks: another node, too large for the segment, no
// segment, or shared memory without room.
func (w *Worker) storeInSegment(ctx context.Context, at *attachment, id, owner string, size int64, fill func(dst []byte)) (bool, error) {
	if at.id != w.nodeID || size > objectstore.SegmentSize {
		return false, nil
	}
	seg := w.segment()
	if seg == nil {
		return false, nil
	}
	err := seg.Use(func(name string, buf []byte) error {
		if err := objectstore.SafeFill(buf[:size], fill); err != nil {
			return errNoRoomInSegment
		}
		st, err := at.client.PutObject(ctx)
		if err != nil {
			return err
		}
		if err := st.Send(&rpcpb.Chunk{Id: id, TotalSize: size, OwnerAddress: owner, LocalFile: name}); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		_, err = st.CloseAndRecv()
		return err
	})
	return !errors.Is(err, errNoRoomInSegment), err
}

// sendChunks streams a value to at's node in chunks.
func sendChunks(ctx context.Context, at *attachment, id, owner string, data []byte) error {
	st, err := at.client.PutObject(ctx)
	if err != nil {
		return err
	}
	size := int64(len(data))
	for off := int64(0); off < size; off += rpcutil.ChunkSize {
		end := min(off+rpcutil.ChunkSize, size)
		c := &rpcpb.Chunk{Id: id, TotalSize: size, Offset: off, Data: data[off:end]}
		if off == 0 {
			c.OwnerAddress = owner // the node reads it from the first chunk
		}
		if err := st.Send(c); err != nil {
			break
		}
	}
	_, err = st.CloseAndRecv()
	return err
}

// errNoRoomInSegment: shared memory had no page for an object.
var errNoRoomInSegment = errors.New("no room in the transfer segment")

// segment is this worker's transfer segment, made on first use; nil when
// its node has no transfer directory or the segment cannot be made (a
// full /dev/shm): objects then go through gRPC.
func (w *Worker) segment() *objectstore.Segment {
	w.segOnce.Do(func() {
		if w.cfg.ObjectDir == "" || w.cfg.WorkerID == "" {
			return
		}
		seg, err := objectstore.CreateSegment(w.cfg.ObjectDir, w.cfg.WorkerID)
		if err != nil {
			w.log.Printf("objects go through gRPC: %v", err)
			return
		}
		w.seg = seg
	})
	return w.seg
}

// fetch reads a stored object (owned by the process at owner) from a node:
// through this worker's segment from its own node, in chunks otherwise. A
// worker asks its own node for an object on another node: the node pulls
// it into its store, where the node's other workers find it too, and
// other nodes pulling it at the same time may read it from there (Ray's
// object manager; runtime/node/pulls.go).
func (w *Worker) fetch(ctx context.Context, id, owner, nodeID, addr string) ([]byte, error) {
	if w.local != nil && nodeID == w.local.ID() {
		return w.local.ObjectStore().Get(id)
	}
	if addr == "" {
		addr = w.nodeAddress(nodeID)
		if addr == "" {
			return nil, &ObjectLostError{ObjectID: id, Reason: "node " + nodeID + " holding it is dead"}
		}
	}
	c, err := w.pool.Get(addr)
	if err != nil {
		return nil, err
	}
	client := rpcpb.NewNodeManagerClient(c)
	if nodeID == w.nodeID {
		if seg := w.segment(); seg != nil {
			var out []byte
			err := seg.Use(func(name string, buf []byte) error {
				out, err = w.fetchChunks(ctx, client, &rpcpb.FetchObjectRequest{Id: id, LocalFile: name}, buf)
				return err
			})
			return out, err
		}
	}
	if w.isWork && w.cfg.NodeAddress != "" {
		// In chunks, not through the segment: the pull can take a while,
		// and the segment serves one transfer at a time.
		req := &rpcpb.FetchObjectRequest{Id: id, SourceAddress: addr, OwnerAddress: owner}
		data, err := w.fetchChunks(ctx, w.nodeClient(), req, nil)
		if err == nil || ctx.Err() != nil || status.Code(err) == codes.NotFound {
			return data, err
		}
		// The node could not pull it (no room in its store, say): read it
		// from where it is.
		w.log.Printf("object %s: node %s could not pull it from %s (%v); reading it directly", id, w.cfg.NodeAddress, addr, err)
	}
	return w.fetchChunks(ctx, client, &rpcpb.FetchObjectRequest{Id: id}, nil)
}

// fetchChunks reads the chunks of a FetchObject answer; seg is the
// segment req names, where the node puts an object that fits.
func (w *Worker) fetchChunks(ctx context.Context, client rpcpb.NodeManagerClient, req *rpcpb.FetchObjectRequest, seg []byte) ([]byte, error) {
	st, err := client.FetchObject(ctx, req)
	if err != nil {
		return nil, err
	}
	var buf []byte
	for {
		ch, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
		if ch.LocalFile != "" {
			if ch.LocalFile != req.LocalFile || ch.TotalSize < 0 || ch.TotalSize > int64(len(seg)) {
				return nil, status.Errorf(codes.DataLoss, "object %s: the node answered with segment %q, %d bytes", req.Id, ch.LocalFile, ch.TotalSize)
			}
			return append([]byte(nil), seg[:ch.TotalSize]...), nil
		}
		if buf == nil {
			buf = make([]byte, ch.TotalSize)
		}
		if ch.Offset+int64(len(ch.Data)) > int64(len(buf)) {
			return nil, status.Errorf(codes.DataLoss, "object %s: chunk beyond its size", req.Id)
		}
		copy(buf[ch.Offset:], ch.Data)
	}
}
