package controller

import (
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/runtime/gcs"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// testGCS serves a GCS (memory storage) on loopback for the test's
// lifetime: the controller's checkpoint and routing table go there.
func testGCS(t *testing.T) rpcpb.GcsClient {
	t.Helper()
	s := gcs.New(gcs.Config{})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(s.UnaryInterceptor()))
	rpcpb.RegisterGcsServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		srv.Stop()
		s.Stop()
	})
	return rpcpb.NewGcsClient(conn)
}
