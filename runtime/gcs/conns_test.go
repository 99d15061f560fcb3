package gcs

import (
	"context"
	"io"
	"log"
	"net"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestDeadNodeConnectionIsDropped: the GCS stops holding a connection to a
// node once the node is declared dead, and makes no new one for it.
func TestDeadNodeConnectionIsDropped(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	addr := l.Addr().String()
	s := New(Config{HeartbeatTimeout: time.Hour, Logger: log.New(io.Discard, "", 0)})
	defer s.Stop()
	reg, err := s.RegisterNode(context.Background(), &rpcpb.NodeInfo{Address: addr, Total: map[string]float64{"CPU": 1}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := s.nodeClient(reg.NodeId); !ok || !s.pool.Has(addr) {
		t.Fatalf("a live node has no connection (ok=%v, pooled=%v)", ok, s.pool.Has(addr))
	}

	if _, err := s.UnregisterNode(context.Background(), &rpcpb.UnregisterNodeRequest{NodeId: reg.NodeId, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); s.pool.Has(addr); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the dead node's connection is still pooled")
		}
	}
	if _, _, ok := s.nodeClient(reg.NodeId); ok || s.pool.Has(addr) {
		t.Fatalf("a dead node got a client (ok=%v, pooled=%v)", ok, s.pool.Has(addr))
	}
}
