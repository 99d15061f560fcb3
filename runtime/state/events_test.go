package state

import (
	"context"
	"io"
	"log"
	"net"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/runtime/dashboard"
	"github.com/goray-dev/goray/runtime/gcs"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestListClusterEvents reads a real GCS's events through the head's
// dashboard handlers, typed and filtered.
func TestListClusterEvents(t *testing.T) {
	gc := serveGcs(t)
	ctx := context.Background()
	if _, err := gc.AddClusterEvents(ctx, &rpcpb.ClusterEventBatch{Events: []*rpcpb.ClusterEvent{
		{Severity: "INFO", SourceType: "JOBS", Message: "Job s1 submitted", CustomFields: map[string]string{"submission_id": "s1"}},
		{Severity: "ERROR", SourceType: "JOBS", Message: "Job s1 is FAILED"},
	}}); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(dashboard.New(gc, "").Mux)
	defer hs.Close()
	c, err := New(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	evs, meta, err := c.ListClusterEvents(ctx, Options{Detail: true})
	if err != nil || meta.Total != 2 || len(evs) != 2 {
		t.Fatalf("list: %v %+v %v", evs, meta, err)
	}
	if e := evs[0]; e.Severity != "INFO" || e.SourceType != "JOBS" || e.EventID == "" || e.Time == "" || e.CustomFields["submission_id"] != "s1" {
		t.Errorf("first event: %+v", e)
	}
	evs, meta, err = c.ListClusterEvents(ctx, Options{Filters: []Filter{{"severity", "=", "error"}}})
	if err != nil || meta.NumFiltered != 1 || len(evs) != 1 || evs[0].Message != "Job s1 is FAILED" {
		t.Fatalf("errors only: %v %+v %v", evs, meta, err)
	}
	if _, _, err := c.ListClusterEvents(ctx, Options{Filters: []Filter{{"message", "=", "x"}}}); err == nil {
		t.Fatal("a filter on message was taken")
	}
}

// serveGcs serves a real GCS on 127.0.0.1 for a dashboard to call.
func serveGcs(t *testing.T) rpcpb.GcsClient {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := gcs.New(gcs.Config{Logger: log.New(io.Discard, "", 0)})
	srv := grpc.NewServer()
	rpcpb.RegisterGcsServer(srv, g)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); g.Stop() })
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return rpcpb.NewGcsClient(conn)
}
