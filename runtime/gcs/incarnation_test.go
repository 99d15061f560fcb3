package gcs

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestRequestsOfAnotherClusterAreRefused: a core worker names the cluster
// it joined on its requests; a GCS of another cluster (its head restarted
// without storage) refuses them, and says which cluster it is.
func TestRequestsOfAnotherClusterAreRefused(t *testing.T) {
	s := New(Config{Logger: quiet})
	defer s.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(s.UnaryInterceptor()), grpc.ChainStreamInterceptor(s.StreamInterceptor()))
	rpcpb.RegisterGcsServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	g := rpcpb.NewGcsClient(conn)
	call := func(cluster string) (metadata.MD, error) {
		ctx := context.Background()
		if cluster != "" {
			ctx = metadata.AppendToOutgoingContext(ctx, ClusterIDHeader, cluster)
		}
		var md metadata.MD
		_, err := g.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: "h"}, grpc.Header(&md))
		return md, err
	}
	if _, err := call(""); err != nil {
		t.Fatalf("a request naming no cluster: %v", err)
	}
	if _, err := call(s.ClusterID()); err != nil {
		t.Fatalf("a request naming this cluster: %v", err)
	}
	md, err := call("0123456789abcdef")
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a request naming another cluster: %v, want FailedPrecondition", err)
	}
	if v := md.Get(ClusterIDHeader); len(v) != 1 || v[0] != s.ClusterID() {
		t.Fatalf("the refusal names cluster %v, want %s", v, s.ClusterID())
	}
	jobs, err := g.GetJobs(context.Background(), &rpcpb.Empty{})
	if err != nil || len(jobs.Jobs) != 2 {
		t.Fatalf("jobs %v, %v; want the two accepted ones", jobs, err)
	}
	// Streams too.
	ctx := metadata.AppendToOutgoingContext(context.Background(), ClusterIDHeader, "0123456789abcdef")
	st, err := g.DownloadBinary(ctx, &rpcpb.BinaryRef{Hash: "x"})
	if err == nil {
		_, err = st.Recv()
	}
	if status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("a stream naming another cluster: %v, want FailedPrecondition", err)
	}
}

// TestTestFirstJobID: the test hook, honoured only when set, names the
// next job id.
func TestTestFirstJobID(t *testing.T) {
	t.Setenv(EnvTestFirstJobID, "0000002a")
	s := New(Config{Logger: quiet})
	defer s.Stop()
	j, err := s.AddJob(context.Background(), &rpcpb.JobInfo{BinaryHash: "h"})
	if err != nil || j.JobId != "0000002a" {
		t.Fatalf("first job %v, %v; want 0000002a", j, err)
	}
	t.Setenv(EnvTestFirstJobID, "")
	if _, ok := testJobSeq(); ok {
		t.Fatal("the hook is honoured when not set")
	}
}
