package integration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// patterned is size bytes that differ from one offset to the next, so a
// chunk out of place changes the sum.
var patterned = ray.Task("it.patterned", func(ctx context.Context, size int) ([]byte, error) {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b, nil
})

// segmentView is what a worker sees of the local transfer: its node's
// directory, the segment files in it, and the sum of an object it was
// given.
type segmentView struct {
	Dir      string   `json:"dir"`
	Segments []string `json:"segments"`
	Sum      string   `json:"sum"`
	Len      int      `json:"len"`
}

var viewSegments = ray.Task("it.view_segments", func(ctx context.Context, b []byte) (segmentView, error) {
	sum := sha256.Sum256(b)
	v := segmentView{Dir: os.Getenv("GORAY_OBJECT_DIR"), Sum: hex.EncodeToString(sum[:]), Len: len(b)}
	ents, err := os.ReadDir(v.Dir)
	if err != nil {
		return v, err
	}
	for _, e := range ents {
		v.Segments = append(v.Segments, e.Name())
	}
	return v, nil
})

// Objects between a worker and its own node go through the node's shared
// memory segments (objectstore/transfer.go), byte for byte: a result put
// by one worker, read by another on the node, and fetched by the driver
// (another process, through gRPC) are the same bytes.
func TestObjectsThroughSharedMemory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	on2 := ray.NodeAffinity(nodeIDs["127.0.0.2"], false)
	for _, size := range []int{200 << 10, 3<<20 + 17} {
		ref := patterned.Remote(ctx, size, on2)
		v, err := ray.Get(ctx, viewSegments.Remote(ctx, ref, on2))
		if err != nil {
			t.Fatal(err)
		}
		got, err := ray.Get(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(got)
		if v.Len != size || len(got) != size || v.Sum != hex.EncodeToString(sum[:]) {
			t.Fatalf("size %d: the worker read %d bytes (sum %s), the driver %d (sum %x)", size, v.Len, v.Sum, len(got), sum)
		}
		if !strings.HasPrefix(v.Dir, "/dev/shm/goray-objects-") || len(v.Segments) == 0 {
			t.Fatalf("size %d: transfer directory %q holds %v, want the workers' segments", size, v.Dir, v.Segments)
		}
		for _, s := range v.Segments {
			if !strings.HasPrefix(s, "seg-") {
				t.Fatalf("%s in the transfer directory", s)
			}
		}
	}
}

// A put naming a segment the node cannot use is refused with a reason, and
// nothing outside the transfer directory is read.
func TestBadSegmentPutIsRefused(t *testing.T) {
	conn, err := grpc.NewClient(addrs["127.0.0.2"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	outside := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(outside, []byte("not an object"), 0o600); err != nil {
		t.Fatal(err)
	}
	node := rpcpb.NewNodeManagerClient(conn)
	for _, name := range []string{"seg-nobody", "../../.." + outside, "seg-../../.." + outside} {
		st, err := node.PutObject(ctx)
		if err != nil {
			t.Fatal(err)
		}
		id := "bad-segment-" + strings.NewReplacer("/", "_", ".", "_").Replace(name)
		if err := st.Send(&rpcpb.Chunk{Id: id, TotalSize: 13, LocalFile: name}); err != nil {
			t.Fatal(err)
		}
		_, err = st.CloseAndRecv()
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("put from segment %q: %v, want InvalidArgument", name, err)
		}
		if onNode(t, node, id) {
			t.Fatalf("put from segment %q stored an object", name)
		}
	}
}

// sumOf is the sha256 of its argument, read on the node it runs on.
var sumOf = ray.Task("it.sum_of", func(ctx context.Context, b []byte) (string, error) {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
})

// Tasks on two other nodes reading one stored object at once: each node
// pulls it into its store once (a copy its workers read, chained between
// the nodes when their pulls overlap), every reader gets the object's
// bytes, and the copies go when the object is freed.
func TestObjectPulledIntoEachReadersNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	obj := make([]byte, 600<<10)
	for i := range obj {
		obj[i] = byte(i*13 + i>>9)
	}
	want := sha256.Sum256(obj)
	ref, err := ray.Put(ctx, obj) // stored on the driver's node, the head's
	if err != nil {
		t.Fatal(err)
	}
	var refs []ray.Ref[string]
	for _, ip := range []string{"127.0.0.2", "127.0.0.3", "127.0.0.2", "127.0.0.3"} {
		refs = append(refs, sumOf.Remote(ctx, ref, ray.NodeAffinity(nodeIDs[ip], false)))
	}
	for i, r := range refs {
		if got, err := ray.Get(ctx, r); err != nil || got != hex.EncodeToString(want[:]) {
			t.Fatalf("reader %d: %s, %v", i, got, err)
		}
	}
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		if !onNode(t, nodeClient(t, ip), ref.ID()) {
			t.Fatalf("no copy of the object on %s", ip)
		}
	}
	ref.Release()
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		for onNode(t, nodeClient(t, ip), ref.ID()) {
			if ctx.Err() != nil {
				t.Fatalf("the copy on %s outlived the object", ip)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
