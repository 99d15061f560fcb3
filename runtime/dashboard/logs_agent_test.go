package dashboard

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLogAgent: the agent lists its files, answers a file's last lines and
// follows it (from the start again when it shrinks), and refuses names it
// does not list.
func TestLogAgent(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "worker-w1.log")
	if err := os.WriteFile(p, []byte("one\ntwo\nthree\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	MountLogAgent(mux, LogFiles{Globs: []string{filepath.Join(dir, "*.log")}})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(AgentLogsPath); code != 200 || !strings.Contains(body, `"name":"worker-w1.log","size":14`) {
		t.Errorf("listing: %d %s", code, body)
	}
	if code, body := get(AgentLogFilePath + "?filename=worker-w1.log&lines=2"); code != 200 || body != "two\nthree\n" {
		t.Errorf("2 lines: %d %q", code, body)
	}
	if code, body := get(AgentLogFilePath + "?filename=nope.log"); code != 404 || !strings.Contains(body, `no such log file \"nope.log\" on this node`) {
		t.Errorf("unlisted: %d %s", code, body)
	}
	if code, body := get(AgentLogFilePath + "?filename=..%2Fworker-w1.log"); code != 400 || !strings.Contains(body, "not a file name") {
		t.Errorf("a path: %d %s", code, body)
	}
	if code, body := get(AgentLogFilePath); code != 400 || !strings.Contains(body, "filename is required") {
		t.Errorf("no name: %d %s", code, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+AgentLogFilePath+"?filename=worker-w1.log&lines=1&media_type=stream&interval=0.1&timeout=8", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	next := func() string {
		t.Helper()
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		return l
	}
	if l := next(); l != "three\n" {
		t.Fatalf("first streamed line %q", l)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.WriteString("four\n")
	_ = f.Close()
	if l := next(); l != "four\n" {
		t.Fatalf("appended line %q", l)
	}
	if err := os.WriteFile(p, []byte("new\n"), 0o644); err != nil { // truncated and rewritten
		t.Fatal(err)
	}
	if l := next(); l != "new\n" {
		t.Fatalf("after truncation %q", l)
	}
}
