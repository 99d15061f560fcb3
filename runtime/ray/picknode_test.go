package ray

import (
	"context"
	"io"
	"log"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A driver started right after its head (the GCS answers before the
// head's own node registered) waits for the first live node instead of
// failing with "no live node".
func TestPickNodeWaitsForTheFirstNode(t *testing.T) {
	quiet := log.New(io.Discard, "", 0)
	g := gcs.New(gcs.Config{Dir: t.TempDir(), Logger: quiet})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	rpcpb.RegisterGcsServer(srv, g)
	go srv.Serve(lis)
	go g.Run()
	t.Cleanup(func() { srv.Stop(); g.Stop() })
	addr := lis.Addr().String()

	started := make(chan *node.Node, 1)
	go func() {
		time.Sleep(300 * time.Millisecond)
		n, err := node.Start(node.Config{GcsAddress: addr, IP: "127.0.0.1", Resources: map[string]float64{"CPU": 1},
			Dir: t.TempDir(), Logger: quiet})
		if err != nil {
			t.Error(err)
		}
		started <- n
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got, _, err := pickNode(ctx, addr, auth.Config{})
	n := <-started
	if n == nil {
		t.FailNow()
	}
	t.Cleanup(n.Stop)
	if err != nil || got != n.Address() {
		t.Fatalf("pickNode = %q, %v; want the node that registered after the call, %s", got, err, n.Address())
	}
}
