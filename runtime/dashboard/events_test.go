package dashboard

import (
	"context"
	"io"
	"log"
	"net"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/runtime/gcs"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// realGcs serves a real GCS on 127.0.0.1 for the dashboard to call.
func realGcs(t *testing.T) rpcpb.GcsClient {
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

func TestClusterEventsAPI(t *testing.T) {
	c := realGcs(t)
	s := New(c, "")
	_, err := c.AddClusterEvents(context.Background(), &rpcpb.ClusterEventBatch{Events: []*rpcpb.ClusterEvent{
		{Severity: "INFO", SourceType: "JOBS", Message: "Job s1 submitted", CustomFields: map[string]string{"submission_id": "s1"}},
		{Severity: "ERROR", SourceType: "JOBS", Message: "Job s1 FAILED"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	code, a, rows := list(t, s, ClusterEventsPath, url.Values{"detail": {"1"}})
	if code != 200 || !a.Result || a.Data.Result.Total != 2 || len(rows) != 2 {
		t.Fatalf("cluster events: %d %+v", code, a)
	}
	e := rows[0]
	if e["severity"] != "INFO" || e["source_type"] != "JOBS" || e["message"] != "Job s1 submitted" || e["event_id"] == "" ||
		len(e["time"].(string)) != len("2006-01-02 15:04:05") || e["custom_fields"].(map[string]any)["submission_id"] != "s1" {
		t.Errorf("event: %v", e)
	}
	// Without detail no custom_fields; Ray's filters; the limit keeps the newest.
	_, a, rows = list(t, s, ClusterEventsPath, url.Values{"filter_keys": {"severity"}, "filter_predicates": {"!="}, "filter_values": {"info"}})
	if a.Data.Result.NumFiltered != 1 || len(rows) != 1 || rows[0]["message"] != "Job s1 FAILED" || rows[0]["custom_fields"] != nil {
		t.Errorf("filtered: %+v %v", a, rows)
	}
	_, _, rows = list(t, s, ClusterEventsPath, url.Values{"limit": {"1"}})
	if len(rows) != 1 || rows[0]["message"] != "Job s1 FAILED" {
		t.Errorf("limit 1: %v", rows)
	}
	code, a, _ = list(t, s, ClusterEventsPath, url.Values{"filter_keys": {"message"}, "filter_predicates": {"="}, "filter_values": {"x"}})
	if code != 400 || a.Result || !strings.Contains(a.Msg, "supported filter columns: event_id, severity, source_type") {
		t.Errorf("bad filter: %d %+v", code, a)
	}
}
