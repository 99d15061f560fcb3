package node

import (
	"context"
	"errors"
	"io"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/objectstore"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxObjectSize bounds one object (it is assembled in memory before storing).
const maxObjectSize = 16 << 30

// PutObject stores an object sent in chunks.
func (n *Node) PutObject(stream rpcpb.NodeManager_PutObjectServer) error {
	var buf []byte
	var id string
	for {
		c, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if buf == nil {
			if c.Id == "" {
				return status.Error(codes.InvalidArgument, "object chunk without an id")
			}
			if c.TotalSize < 0 || c.TotalSize > maxObjectSize {
				return status.Errorf(codes.InvalidArgument, "object size %d out of range", c.TotalSize)
			}
			id = c.Id
			buf = make([]byte, c.TotalSize)
		}
		if c.Offset < 0 || c.Offset+int64(len(c.Data)) > int64(len(buf)) {
			return status.Errorf(codes.InvalidArgument, "chunk [%d,+%d) outside object of %d bytes", c.Offset, len(c.Data), len(buf))
		}
		copy(buf[c.Offset:], c.Data)
	}
	if id == "" {
		return status.Error(codes.InvalidArgument, "empty object stream")
	}
	if err := n.Store.Put(id, buf); err != nil {
		return status.Errorf(codes.ResourceExhausted, "store object: %v", err)
	}
	return stream.SendAndClose(&rpcpb.Empty{})
}

// FetchObject streams an object in chunks.
func (n *Node) FetchObject(in *rpcpb.FetchObjectRequest, stream rpcpb.NodeManager_FetchObjectServer) error {
	if in.Id == "" {
		return status.Error(codes.InvalidArgument, "fetch without an object id")
	}
	data, err := n.Store.Get(in.Id)
	if errors.Is(err, objectstore.ErrNotFound) {
		return status.Errorf(codes.NotFound, "object %s is not on node %s", in.Id, n.ID())
	}
	if err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	total := int64(len(data))
	for off := int64(0); off < total || off == 0; off += rpcutil.ChunkSize {
		end := min(off+rpcutil.ChunkSize, total)
		if err := stream.Send(&rpcpb.Chunk{Id: in.Id, TotalSize: total, Offset: off, Data: data[off:end]}); err != nil {
			return err
		}
		if end == total {
			break
		}
	}
	return nil
}

// FreeObjects deletes objects whose owner released them.
func (n *Node) FreeObjects(ctx context.Context, in *rpcpb.FreeObjectsRequest) (*rpcpb.Empty, error) {
	n.Store.Delete(in.Ids...)
	return &rpcpb.Empty{}, nil
}
