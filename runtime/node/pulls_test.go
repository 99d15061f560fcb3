package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// objectNodes starts a GCS and n node managers on loopback.
func objectNodes(t *testing.T, n int) []*Node {
	t.Helper()
	_, addr, _ := gcsOn(t, "", nil)
	var out []*Node
	for range n {
		nd, err := Start(Config{GcsAddress: addr, Resources: map[string]float64{"CPU": 1}, Dir: t.TempDir(),
			HeartbeatInterval: time.Hour, Logger: quiet, StoreCapacity: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nd.Stop)
		out = append(out, nd)
	}
	return out
}

func nodeClient(t *testing.T, addr string) rpcpb.NodeManagerClient {
	t.Helper()
	c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return rpcpb.NewNodeManagerClient(c)
}

// readAll reads a FetchObject answer into one buffer (after the chunks in
// out), checking its chunks come in order.
func readAll(st rpcpb.NodeManager_FetchObjectClient, out ...byte) ([]byte, error) {
	for {
		c, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if c.RelayAddress != "" || c.Offset != int64(len(out)) {
			return nil, status.Errorf(codes.DataLoss, "chunk at %d (relay %q) after %d bytes", c.Offset, c.RelayAddress, len(out))
		}
		out = append(out, c.Data...)
	}
}

func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n+8)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := 0; i < n; i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return b[:n]
}

// A worker's fetch of an object on another node goes through its own
// node: the node pulls a copy into its store (its other workers read that
// copy), and when the object is freed where it came from, the copy goes
// too.
func TestPullThroughTheWorkersNode(t *testing.T) {
	nodes := objectNodes(t, 2)
	a, b := nodes[0], nodes[1]
	data := randomBytes(9<<20+123, 1)
	if err := a.Store.PutFor("obj", "owner-1", data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cb := nodeClient(t, b.Address())
	fetch := func() ([]byte, error) {
		st, err := cb.FetchObject(ctx, &rpcpb.FetchObjectRequest{Id: "obj", SourceAddress: a.Address(), OwnerAddress: "owner-1"})
		if err != nil {
			return nil, err
		}
		return readAll(st)
	}
	got, err := fetch()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("first fetch: %d bytes, %v", len(got), err)
	}
	if !b.Store.Contains("obj") || b.Store.OwnerOf("obj") != "owner-1" {
		t.Fatal("no copy in the worker's node's store")
	}
	// The next reader is served from the copy: the original is not needed.
	a.Store.Delete("obj")
	if got, err := fetch(); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("second fetch, from the copy: %d bytes, %v", len(got), err)
	}
	// Freed at the node it came from: the copy is freed too.
	if err := a.Store.PutFor("obj", "owner-1", data); err != nil {
		t.Fatal(err)
	}
	if _, err := nodeClient(t, a.Address()).FreeObjects(ctx, &rpcpb.FreeObjectsRequest{Ids: []string{"obj"}}); err != nil {
		t.Fatal(err)
	}
	for b.Store.Contains("obj") {
		if ctx.Err() != nil {
			t.Fatal("the copy outlived the object")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// An object the source does not have is NotFound, as from the source.
	if _, err := fetch(); status.Code(err) != codes.NotFound {
		t.Fatalf("fetch of a freed object: %v", err)
	}
}

// A node sending an object to one puller sends the next puller to that
// one (a chain) while its own stream runs, and serves pullers itself
// again once it is done; a puller whose relay failed is served directly.
func TestConcurrentPullersAreChained(t *testing.T) {
	a := objectNodes(t, 1)[0]
	// Larger than the stream's flow-control window: a reader that stops
	// reading holds the sender's stream open.
	data := randomBytes(48<<20, 2)
	if err := a.Store.PutFor("big", "owner", data); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ca := nodeClient(t, a.Address())
	first := func(puller string, noRelay bool) (*rpcpb.Chunk, rpcpb.NodeManager_FetchObjectClient, context.CancelFunc) {
		t.Helper()
		sctx, scancel := context.WithCancel(ctx)
		st, err := ca.FetchObject(sctx, &rpcpb.FetchObjectRequest{Id: "big", PullerAddress: puller, NoRelay: noRelay})
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return c, st, scancel
	}
	c1, _, stop1 := first("10.0.0.1:1", false)
	if c1.RelayAddress != "" || len(c1.Data) == 0 {
		t.Fatalf("the first puller got a relay %q", c1.RelayAddress)
	}
	if c2, _, _ := first("10.0.0.2:1", false); c2.RelayAddress != "10.0.0.1:1" {
		t.Fatalf("the second puller: relay %q, want the first", c2.RelayAddress)
	}
	if c3, _, _ := first("10.0.0.3:1", false); c3.RelayAddress != "10.0.0.2:1" {
		t.Fatalf("the third puller: relay %q, want the second", c3.RelayAddress)
	}
	c4, st4, _ := first("10.0.0.3:1", true)
	if c4.RelayAddress != "" {
		t.Fatalf("a puller asking for the bytes got a relay %q", c4.RelayAddress)
	}
	all, err := readAll(st4, c4.Data...)
	if err != nil || !bytes.Equal(all, data) {
		t.Fatalf("the direct read: %v", err)
	}
	stop1()
	// The first stream's end is seen by its handler a moment later.
	for {
		c, st, stop := first("10.0.0.4:1", false)
		if c.RelayAddress == "" {
			all, err := readAll(st, c.Data...)
			if err != nil || !bytes.Equal(all, data) {
				t.Fatalf("a later puller: %v", err)
			}
			stop()
			break
		}
		stop()
		if ctx.Err() != nil {
			t.Fatal("pullers still sent to a relay after the node's streams ended")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// gatedSource is a node manager holding one object that it sends to its
// first puller a chunk at a time, as the test allows, and to pullers
// asking for the bytes at once; other pullers it sends to relay.
type gatedSource struct {
	rpcpb.UnimplementedNodeManagerServer
	data  []byte
	chunk int
	gate  chan struct{}
	relay string
	addr  string

	mu   sync.Mutex
	reqs []*rpcpb.FetchObjectRequest
}

func (g *gatedSource) FetchObject(in *rpcpb.FetchObjectRequest, st rpcpb.NodeManager_FetchObjectServer) error {
	if in.Id != "obj" {
		return status.Error(codes.NotFound, "no such object")
	}
	g.mu.Lock()
	g.reqs = append(g.reqs, in)
	n := len(g.reqs)
	g.mu.Unlock()
	if n > 1 && !in.NoRelay && g.relay != "" {
		return st.Send(&rpcpb.Chunk{Id: in.Id, RelayAddress: g.relay})
	}
	for off := int(in.Offset); off < len(g.data); off += g.chunk {
		if n == 1 {
			select {
			case <-g.gate:
			case <-st.Context().Done():
				return st.Context().Err()
			}
		}
		end := min(off+g.chunk, len(g.data))
		if err := st.Send(&rpcpb.Chunk{Id: in.Id, TotalSize: int64(len(g.data)), Offset: int64(off), Data: g.data[off:end]}); err != nil {
			return err
		}
	}
	return nil
}

func (g *gatedSource) requests() []*rpcpb.FetchObjectRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*rpcpb.FetchObjectRequest(nil), g.reqs...)
}

func startGatedSource(t *testing.T, data []byte) *gatedSource {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &gatedSource{data: data, chunk: 64 << 10, gate: make(chan struct{}, len(data)), addr: lis.Addr().String()}
	srv := grpc.NewServer()
	rpcpb.RegisterNodeManagerServer(srv, g)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return g
}

// waitHave waits until node n has received at least want bytes of its
// pull of "obj".
func waitHave(t *testing.T, n *Node, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if p := n.pulling("obj"); p != nil {
			p.mu.Lock()
			have := p.have
			p.mu.Unlock()
			if have >= want {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s did not receive %d bytes", n.Address(), want)
		}
	}
}

// A node sent to a relay reads the object from the relay while the relay
// itself is still receiving it: the source sends it once.
func TestRelayServesWhileItReceives(t *testing.T) {
	nodes := objectNodes(t, 2)
	b, c := nodes[0], nodes[1]
	data := randomBytes(1<<20+5, 3)
	src := startGatedSource(t, data)
	src.relay = b.Address()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	read := func(n *Node) <-chan []byte {
		out := make(chan []byte, 1)
		st, err := nodeClient(t, n.Address()).FetchObject(ctx, &rpcpb.FetchObjectRequest{Id: "obj", SourceAddress: src.addr, OwnerAddress: "owner"})
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			got, err := readAll(st)
			if err != nil {
				t.Errorf("read from %s: %v", n.Address(), err)
			}
			out <- got
		}()
		return out
	}
	fromB := read(b)
	for range 4 {
		src.gate <- struct{}{}
	}
	waitHave(t, b, 4*64<<10)
	fromC := read(c)
	waitHave(t, c, 4*64<<10) // the chunks b had, before the source sends more
	for range len(data)/src.chunk + 1 {
		src.gate <- struct{}{}
	}
	if got := <-fromB; !bytes.Equal(got, data) {
		t.Fatalf("b's worker read %d bytes, not the object", len(got))
	}
	if got := <-fromC; !bytes.Equal(got, data) {
		t.Fatalf("c's worker read %d bytes, not the object", len(got))
	}
	reqs := src.requests()
	if len(reqs) != 2 || reqs[0].PullerAddress != b.Address() || reqs[1].PullerAddress != c.Address() {
		t.Fatalf("the source was asked %d times: %v", len(reqs), reqs)
	}
	for _, n := range []*Node{b, c} {
		if !n.Store.Contains("obj") {
			t.Fatalf("no copy on %s", n.Address())
		}
	}
}

// A relay that fails mid-object is replaced by the source, from the byte
// where it stopped.
func TestBrokenRelayResumesFromTheSource(t *testing.T) {
	nodes := objectNodes(t, 2)
	b, c := nodes[0], nodes[1]
	data := randomBytes(1<<20+5, 4)
	src := startGatedSource(t, data)
	src.relay = b.Address()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stB, err := nodeClient(t, b.Address()).FetchObject(ctx, &rpcpb.FetchObjectRequest{Id: "obj", SourceAddress: src.addr})
	if err != nil {
		t.Fatal(err)
	}
	src.gate <- struct{}{}
	src.gate <- struct{}{}
	if _, err := stB.Recv(); err != nil { // b's pull has begun
		t.Fatal(err)
	}
	waitHave(t, b, 2*64<<10)
	done := make(chan []byte, 1)
	go func() {
		st, err := nodeClient(t, c.Address()).FetchObject(ctx, &rpcpb.FetchObjectRequest{Id: "obj", SourceAddress: src.addr})
		if err != nil {
			t.Error(err)
			done <- nil
			return
		}
		got, err := readAll(st)
		if err != nil {
			t.Error(err)
		}
		done <- got
	}()
	waitHave(t, c, 2*64<<10)
	b.srv.Stop() // the relay is gone
	if got := <-done; !bytes.Equal(got, data) {
		t.Fatalf("c read %d bytes, not the object", len(got))
	}
	var resumed bool
	for _, r := range src.requests() {
		resumed = resumed || (r.PullerAddress == c.Address() && r.NoRelay && r.Offset >= 2*64<<10)
	}
	if !resumed {
		t.Fatalf("c did not resume from the source: %v", src.requests())
	}
}
