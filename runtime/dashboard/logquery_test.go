package dashboard

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseLogQuery(t *testing.T) {
	for _, c := range []struct {
		query, err string
		check      func(LogQuery) bool
	}{
		{"node_id=n1&filename=worker-a.log", "", func(q LogQuery) bool {
			return q.NodeID == "n1" && q.Filename == "worker-a.log" && q.Lines == DefaultLogLines && !q.Stream && q.Timeout == DefaultFollow
		}},
		{"actor_id=a&lines=-1&media_type=stream&interval=0.5&timeout=10", "", func(q LogQuery) bool {
			return q.Lines == -1 && q.Stream && q.Interval == 500*time.Millisecond && q.Timeout == 10*time.Second
		}},
		{"task_id=t&attempt_number=2&lines=0", "", func(q LogQuery) bool { return q.Attempt == 2 && q.Lines == DefaultLogLines }},
		{"lines=100001", "lines must be an integer from -1 to 100000", nil},
		{"lines=-2", "lines must be an integer", nil},
		{"lines=1e3", "lines must be an integer", nil},
		{"pid=0", "pid must be an integer from 1", nil},
		{"interval=0.01", "interval must be seconds from 0.1 to 10", nil},
		{"timeout=NaN", "timeout must be seconds", nil},
		{"timeout=7200", "timeout must be seconds from 1 to 3600", nil},
		{"media_type=tar", `media_type must be file or stream, not "tar"`, nil},
		{"filename=../x", "not a file name", nil},
		{"filename=a&filename=b", `parameter "filename" given 2 times`, nil},
		{"actor_id=" + strings.Repeat("a", 600), `parameter "actor_id" of 600 bytes; at most 512`, nil},
	} {
		q, _ := url.ParseQuery(c.query)
		lq, err := ParseLogQuery(q, false)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s: %v; want %q", clipParam(c.query), err, c.err)
		case c.err == "" && (err != nil || !c.check(lq)):
			t.Errorf("%s: %+v %v", c.query, lq, err)
		}
	}
	for query, want := range map[string]string{
		"":                             "name the log",
		"filename=a.log":               "need node_id or node_ip",
		"pid=7":                        "need node_id or node_ip",
		"actor_id=a&task_id=t":         "give only one of",
		"node_ip=127.0.0.1&filename=x": "",
		"submission_id=s":              "",
	} {
		q, _ := url.ParseQuery(query)
		lq, err := ParseLogQuery(q, false)
		if err == nil {
			err = lq.CheckFile()
		}
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("CheckFile %q: %v; want %q", query, err, want)
		}
	}
}

// FuzzLogQuery: any query string given to the log API is parsed or refused
// with a reason, never a panic, and what is accepted is within the bounds;
// the node agent answers it with 200 only for the file it lists, never with
// another file's bytes.
func FuzzLogQuery(f *testing.F) {
	for _, s := range []string{
		"filename=worker-a.log", "filename=worker-a.log&lines=-1", "filename=../outside.log", "filename=%2e%2e%2foutside.log",
		"filename=..", "filename=worker-a.log&media_type=stream&timeout=1", "actor_id=a&lines=5", "node_ip=127.0.0.1&pid=4",
		"filename=worker-a.log%00", "lines=99999999999999999999", "timeout=1e308&interval=-1", "filename=a&filename=b",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	logs := filepath.Join(dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(logs, "worker-a.log"), []byte("line 1\nline 2\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "outside.log"), []byte("OUTSIDE\n"), 0o644); err != nil {
		f.Fatal(err)
	}
	mux := http.NewServeMux()
	MountLogAgent(mux, LogFiles{Globs: []string{filepath.Join(logs, "*.log")}})
	done, cancel := context.WithCancel(context.Background())
	cancel() // a stream ends right after its first answer
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		lq, err := ParseLogQuery(q, false)
		if err == nil {
			_ = lq.CheckFile()
			if lq.Lines == 0 || lq.Lines < -1 || lq.Lines > MaxLogLines || lq.Interval < 100*time.Millisecond || lq.Interval > 10*time.Second ||
				lq.Timeout < time.Second || lq.Timeout > MaxFollow || (lq.Filename != "" && checkLogName(lq.Filename) != nil) {
				t.Fatalf("%q accepted out of bounds: %+v", raw, lq)
			}
		} else if err.Error() == "" {
			t.Fatalf("%q refused without a reason", raw)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, AgentLogFilePath+"?"+q.Encode(), nil).WithContext(done)
		mux.ServeHTTP(rec, req)
		body := rec.Body.String()
		switch rec.Code {
		case http.StatusOK:
			if q.Get("filename") != "worker-a.log" || strings.Contains(body, "OUTSIDE") {
				t.Fatalf("%q served %q", raw, body)
			}
		case http.StatusBadRequest, http.StatusNotFound:
			if !strings.Contains(body, `"msg"`) || strings.Contains(body, "OUTSIDE") {
				t.Fatalf("%q: %d %q", raw, rec.Code, body)
			}
		default:
			t.Fatalf("%q: %d %q", raw, rec.Code, body)
		}
	})
}
