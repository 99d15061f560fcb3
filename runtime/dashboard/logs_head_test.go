package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/auth"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestLogsThroughTheHead: the head finds the node in a real GCS and relays
// its agent's answer, calling it with the head's token (the agent requires
// it); the listing is by Ray's categories; unknown and dead nodes and
// missing parameters are refused with why.
func TestLogsThroughTheHead(t *testing.T) {
	ctx := context.Background()
	gc := realGcs(t)
	root, session := t.TempDir(), t.TempDir()
	for p, s := range map[string]string{
		filepath.Join(session, "logs", "worker-w1.log"):        "worker line\n",
		filepath.Join(root, "logs", DriverLogName("raysub_1")): "driver line 1\ndriver line 2\n",
	} {
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sec := auth.NewToken("s3cret-token")
	agentMux := http.NewServeMux()
	MountLogAgent(agentMux, NodeLogFiles(root, session, true))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	agent := httptest.NewUnstartedServer(sec.Handler(agentMux, auth.HTTPPolicy{}))
	agent.Listener = lis
	agent.Start()
	defer agent.Close()
	port := lis.Addr().(*net.TCPAddr).Port
	head, err := gc.RegisterNode(ctx, &rpcpb.NodeInfo{Address: "127.0.0.1:1", Ip: "127.0.0.1", IsHead: true})
	if err != nil {
		t.Fatal(err)
	}
	gone, err := gc.RegisterNode(ctx, &rpcpb.NodeInfo{Address: "127.0.0.5:1", Ip: "127.0.0.5"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gc.UnregisterNode(ctx, &rpcpb.UnregisterNodeRequest{NodeId: gone.NodeId, Reason: "test"}); err != nil {
		t.Fatal(err)
	}

	s := New(gc, "")
	s.MountLogs(port, sec)
	get := func(path string, q url.Values) (int, string) {
		t.Helper()
		rec := httptest.NewRecorder()
		s.Mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil))
		return rec.Code, rec.Body.String()
	}
	code, body := get(LogsPath, url.Values{"node_id": {head.NodeId}})
	var listing struct {
		Result bool `json:"result"`
		Data   struct {
			Result map[string][]string `json:"result"`
		} `json:"data"`
	}
	if code != 200 || json.Unmarshal([]byte(body), &listing) != nil || !listing.Result ||
		strings.Join(listing.Data.Result["worker_out"], ",") != "worker-w1.log" || strings.Join(listing.Data.Result["driver"], ",") != DriverLogName("raysub_1") {
		t.Fatalf("listing: %d %s", code, body)
	}
	if code, body := get(LogsPath, url.Values{"node_ip": {"127.0.0.1"}, "glob": {"job-*"}}); code != 200 || strings.Contains(body, "worker-w1") || !strings.Contains(body, "raysub_1") {
		t.Errorf("glob: %d %s", code, body)
	}
	if code, body := get(LogFilePath, url.Values{"submission_id": {"raysub_1"}, "lines": {"1"}}); code != 200 || body != "driver line 2\n" {
		t.Errorf("driver log: %d %q", code, body)
	}
	if code, body := get(LogFilePath, url.Values{"node_id": {head.NodeId}, "filename": {"worker-w1.log"}}); code != 200 || body != "worker line\n" {
		t.Errorf("worker log: %d %q", code, body)
	}
	for _, c := range []struct {
		path string
		q    url.Values
		code int
		msg  string
	}{
		{LogFilePath, url.Values{"node_id": {gone.NodeId}, "filename": {"worker-w1.log"}}, 404, "is dead"},
		{LogFilePath, url.Values{"node_id": {"nope"}, "filename": {"worker-w1.log"}}, 404, "node nope is not in the cluster"},
		{LogFilePath, url.Values{"node_id": {head.NodeId}, "filename": {"../secret"}}, 400, "not a file name"},
		{LogFilePath, url.Values{"node_id": {head.NodeId}, "filename": {"secret.log"}}, 404, "no such log file"},
		{LogFilePath, url.Values{"submission_id": {"raysub_2"}}, 404, "no such log file"},
		{LogsPath, url.Values{"glob": {"*"}}, 400, "node_id or node_ip is required"},
		{LogsPath, url.Values{"node_id": {head.NodeId}, "glob": {"["}}, 400, "glob"},
	} {
		code, body := get(c.path, c.q)
		if code != c.code || !strings.Contains(body, c.msg) || !strings.Contains(body, `"result":false`) {
			t.Errorf("%s?%s: %d %s; want %d %q", c.path, c.q.Encode(), code, body, c.code, c.msg)
		}
	}
	// A head without the cluster's token is refused by the agent: a 502
	// saying so, not the caller's 401.
	bare := New(gc, "")
	bare.MountLogs(port, auth.Config{})
	rec := httptest.NewRecorder()
	bare.Mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, LogFilePath+"?submission_id=raysub_1", nil))
	if rec.Code != http.StatusBadGateway || !strings.Contains(rec.Body.String(), "refused the head") {
		t.Errorf("tokenless head: %d %s", rec.Code, rec.Body.String())
	}
	resp, err := http.Get(agent.URL + AgentLogFilePath + "?filename=worker-w1.log")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(string(b), "worker line") {
		t.Errorf("the agent without a token: %d %s", resp.StatusCode, b)
	}
}
