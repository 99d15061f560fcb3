package state

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/dashboard"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestLogs lists and reads a node's logs through a head's handlers, its
// agent and a real GCS; a refusal is an *Error with the status and reason.
func TestLogs(t *testing.T) {
	gc := serveGcs(t)
	root, session := t.TempDir(), t.TempDir()
	p := filepath.Join(root, "logs", dashboard.DriverLogName("raysub_1"))
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	agentMux := http.NewServeMux()
	dashboard.MountLogAgent(agentMux, dashboard.NodeLogFiles(root, session, true))
	agent := httptest.NewServer(agentMux)
	defer agent.Close()
	ctx := context.Background()
	head, err := gc.RegisterNode(ctx, &rpcpb.NodeInfo{Address: "127.0.0.1:1", Ip: "127.0.0.1", IsHead: true})
	if err != nil {
		t.Fatal(err)
	}
	d := dashboard.New(gc, "")
	d.MountLogs(agent.Listener.Addr().(*net.TCPAddr).Port, auth.Config{})
	hs := httptest.NewServer(d.Mux)
	defer hs.Close()
	c, err := New(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	cats, err := c.ListLogs(ctx, head.NodeId, "", "")
	if err != nil || len(cats["driver"]) != 1 {
		t.Fatalf("listing: %v %v", cats, err)
	}
	var out bytes.Buffer
	if err := c.GetLog(ctx, LogOptions{SubmissionID: "raysub_1", Tail: 2}, &out); err != nil || out.String() != "b\nc\n" {
		t.Fatalf("driver log: %q %v", out.String(), err)
	}
	out.Reset()
	if err := c.GetLog(ctx, LogOptions{NodeID: head.NodeId, Filename: cats["driver"][0], Tail: -1}, &out); err != nil || out.String() != "a\nb\nc\n" {
		t.Fatalf("by name: %q %v", out.String(), err)
	}
	err = c.GetLog(ctx, LogOptions{NodeID: head.NodeId, Filename: "../x"}, &out)
	var se *Error
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || se.Message == "" {
		t.Fatalf("a path: %v", err)
	}
}
