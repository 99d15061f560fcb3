package node

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// maxObjectSize bounds one object (it is assembled in store memory before it is visible).
const maxObjectSize = 16 << 30

// PutObject stores an object sent in chunks, received straight into store
// memory. The first chunk names the object's owner (its core worker
// address): the node frees the object when that process is gone.
func (n *Node) PutObject(stream rpcpb.NodeManager_PutObjectServer) error {
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return status.Error(codes.InvalidArgument, "empty object stream")
	}
	if err != nil {
		return err
	}
	if first.Id == "" {
		return status.Error(codes.InvalidArgument, "object chunk without an id")
	}
	if first.TotalSize < 0 || first.TotalSize > maxObjectSize {
		return status.Errorf(codes.InvalidArgument, "object size %d out of range", first.TotalSize)
	}
	if first.LocalFile != "" {
		return n.putLocalFile(stream, first)
	}
	var rpcErr error
	err = n.Store.PutFuncFor(first.Id, first.OwnerAddress, first.TotalSize, func(buf []byte) error {
		for c := first; ; {
			if c.Offset < 0 || c.Offset+int64(len(c.Data)) > int64(len(buf)) {
				rpcErr = status.Errorf(codes.InvalidArgument, "chunk [%d,+%d) outside object of %d bytes", c.Offset, len(c.Data), len(buf))
				return rpcErr
			}
			copy(buf[c.Offset:], c.Data)
			var err error
			c, err = stream.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				rpcErr = err
				return err
			}
		}
	})
	if rpcErr != nil {
		return rpcErr
	}
	if err != nil {
		return status.Errorf(codes.ResourceExhausted, "store object: %v", err)
	}
	return stream.SendAndClose(&rpcpb.Empty{})
}

// putLocalFile stores an object a worker of this node copied into its
// transfer segment (objectstore/transfer.go).
func (n *Node) putLocalFile(stream rpcpb.NodeManager_PutObjectServer, first *rpcpb.Chunk) error {
	var copyErr error
	err := n.Store.PutFuncFor(first.Id, first.OwnerAddress, first.TotalSize, func(buf []byte) error {
		copyErr = n.segments.CopyFrom(first.LocalFile, first.Offset, buf)
		return copyErr
	})
	if copyErr != nil {
		return status.Errorf(codes.InvalidArgument, "object %s: %v", first.Id, copyErr)
	}
	if err != nil {
		return status.Errorf(codes.ResourceExhausted, "store object: %v", err)
	}
	return stream.SendAndClose(&rpcpb.Empty{})
}

// FetchObject streams an object in chunks (from store memory, pinned while
// sending), or, for the node's own workers, hands it over in a file of the
// transfer directory. An object on another node (source_address) is pulled
// into this node's store first and sent on as it arrives (pulls.go); a
// node pulling an object may be sent to another puller instead (relays.go).
func (n *Node) FetchObject(in *rpcpb.FetchObjectRequest, stream rpcpb.NodeManager_FetchObjectServer) error {
	if in.Id == "" {
		return status.Error(codes.InvalidArgument, "fetch without an object id")
	}
	if in.SourceAddress != "" && in.SourceAddress != n.addr {
		if p := n.startPull(in.Id, in.OwnerAddress, in.SourceAddress); p != nil {
			return n.sendPulling(p, in, stream)
		}
	}
	if in.PullerAddress != "" {
		relay, done, has := n.relayFor(in)
		if relay != "" {
			return stream.Send(&rpcpb.Chunk{Id: in.Id, RelayAddress: relay})
		}
		if done != nil {
			defer done()
		}
		if !has {
			return status.Errorf(codes.NotFound, "object %s is not on node %s", in.Id, n.ID())
		}
	}
	if p := n.pulling(in.Id); p != nil {
		return n.sendPulling(p, in, stream)
	}
	return n.sendStored(in, stream)
}

// FreeObjects deletes objects whose owner released them, and every object
// of an owner that shuts down.
func (n *Node) FreeObjects(ctx context.Context, in *rpcpb.FreeObjectsRequest) (*rpcpb.Empty, error) {
	n.Store.Delete(in.Ids...)
	if in.OwnerAddress != "" {
		n.freeOwned(in.OwnerAddress, "its owner shut down")
	}
	n.forwardFrees(in.Ids, "")
	return &rpcpb.Empty{}, nil
}
