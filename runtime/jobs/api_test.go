package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coder/websocket"

	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

func TestSubmitTransitionsAndLogs(t *testing.T) {
	needHead(t)
	c, g := shared.c, newGate(t)
	id := submit(t, c, api.SubmitRequest{
		Entrypoint: `echo "sub=$RAY_JOB_SUBMISSION_ID addr=$GORAY_ADDRESS ray=$RAY_ADDRESS var=$MYVAR"; ` + g.wait() + `; echo after-gate`,
		RuntimeEnv: map[string]any{"env_vars": map[string]any{"MYVAR": "from-env-vars"}},
		Metadata:   map[string]string{"owner": "test"},
	})
	if !strings.HasPrefix(id, "raysubmit_") {
		t.Errorf("generated id %q, want raysubmit_...", id)
	}
	d := waitStatus(t, c, id, api.StatusRunning)
	if d.MessageText() != api.MsgRunning || d.DriverInfo == nil || d.DriverInfo.PID == "" || d.StartTime == nil || d.EndTime != nil {
		t.Errorf("running job details: %+v", d)
	}
	if d.Type != "SUBMISSION" || d.Metadata["owner"] != "test" || d.ID() != id {
		t.Errorf("details: type %s metadata %v id %s", d.Type, d.Metadata, d.ID())
	}
	g.open(t)
	d = waitStatus(t, c, id, api.StatusSucceeded)
	if d.MessageText() != api.MsgSucceeded || d.DriverExitCode == nil || *d.DriverExitCode != 0 {
		t.Errorf("succeeded job: message %q exit %v", d.MessageText(), d.DriverExitCode)
	}
	if d.EndTime == nil || *d.EndTime < *d.StartTime || *d.StartTime < 1_600_000_000_000 {
		t.Errorf("times must be Unix ms with end >= start: start %v end %v", *d.StartTime, d.EndTime)
	}
	logs, err := c.Logs(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := "sub=" + id + " addr=" + shared.gcsAddr + " ray=" + shared.gcsAddr + " var=from-env-vars\nafter-gate\n"
	if logs != want {
		t.Errorf("logs = %q, want %q", logs, want)
	}
	jobs, err := c.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, j := range jobs {
		found = found || j.ID() == id
	}
	if !found {
		t.Errorf("list does not have %s", id)
	}
}

func TestFailedJobMessage(t *testing.T) {
	needHead(t)
	c := shared.c
	id := submit(t, c, api.SubmitRequest{Entrypoint: "echo line-one; echo oops >&2; exit 3"})
	d := waitStatus(t, c, id, api.StatusFailed)
	if d.DriverExitCode == nil || *d.DriverExitCode != 3 {
		t.Errorf("exit code %v, want 3", d.DriverExitCode)
	}
	msg := d.MessageText()
	if !strings.HasPrefix(msg, "Job entrypoint command failed with exit code 3, last available logs") || !strings.Contains(msg, "line-one\noops") {
		t.Errorf("message = %q", msg)
	}
	if d.ErrorType == nil || *d.ErrorType != api.ErrTypeEntrypoint {
		t.Errorf("error_type = %v", d.ErrorType)
	}
}

// lineWriter signals when a line has been written to it.
type lineWriter struct {
	mu   sync.Mutex
	buf  strings.Builder
	want string
	seen chan struct{}
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.seen != nil && strings.Contains(w.buf.String(), w.want) {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}

func TestTailStreamsHTTP(t *testing.T) {
	needHead(t)
	c, g := shared.c, newGate(t)
	id := submit(t, c, api.SubmitRequest{Entrypoint: "echo first; " + g.wait() + "; echo second"})
	w := &lineWriter{want: "first\n", seen: make(chan struct{})}
	seen := w.seen
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	go func() { done <- c.Tail(ctx, id, w) }()
	select { // the first line arrives while the job still waits at the gate
	case <-seen:
	case err := <-done:
		t.Fatalf("tail ended before the job did: %v", err)
	}
	g.open(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := w.buf.String(); got != "first\nsecond\n" {
		t.Errorf("streamed %q", got)
	}
	if d, _ := c.Get(context.Background(), id); !d.Status.IsTerminal() {
		t.Errorf("tail ended while the job is %s", d.Status)
	}
}

func TestTailStreamsWebSocket(t *testing.T) {
	needHead(t)
	c, g := shared.c, newGate(t)
	id := submit(t, c, api.SubmitRequest{Entrypoint: "echo ws-first; " + g.wait() + "; echo ws-second"})
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	// websocket.Dial's response needs no closing: its body is the hijacked conn.
	ws, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(shared.url, "http")+"/api/jobs/"+id+"/logs/tail", nil) //nolint:bodyclose // see above
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	var got strings.Builder
	for !strings.Contains(got.String(), "ws-first\n") {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read before the gate: %v", err)
		}
		if typ != websocket.MessageText {
			t.Errorf("frame type %v, want text", typ)
		}
		got.Write(b)
	}
	g.open(t)
	for {
		_, b, err := ws.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
				t.Fatalf("stream ended with %v", err)
			}
			break
		}
		got.Write(b)
	}
	if got.String() != "ws-first\nws-second\n" {
		t.Errorf("streamed %q", got.String())
	}
}

func TestStopAndDelete(t *testing.T) {
	needHead(t)
	c, ctx := shared.c, context.Background()
	id := submit(t, c, api.SubmitRequest{Entrypoint: "echo started; sleep 1000"})
	waitFor(t, c, id, "running with output", func(d *api.JobDetails) bool {
		l, _ := c.Logs(ctx, id)
		return d.Status == api.StatusRunning && l == "started\n"
	})
	if _, err := c.Delete(ctx, id); !client.IsBadRequest(err) || !strings.Contains(err.Error(), "non-terminal state RUNNING") {
		t.Errorf("delete of a running job: %v, want 400", err)
	}
	if ok, err := c.Stop(ctx, id); err != nil || !ok {
		t.Fatalf("stop = %v, %v", ok, err)
	}
	d := waitStatus(t, c, id, api.StatusStopped)
	if d.MessageText() != api.MsgStopped || d.EndTime == nil {
		t.Errorf("stopped job: %q end %v", d.MessageText(), d.EndTime)
	}
	if ok, err := c.Stop(ctx, id); err != nil || ok {
		t.Errorf("second stop = %v, %v; want false", ok, err)
	}
	if ok, err := c.Delete(ctx, id); err != nil || !ok {
		t.Fatalf("delete = %v, %v", ok, err)
	}
	if _, err := c.Get(ctx, id); !client.IsNotFound(err) {
		t.Errorf("get after delete: %v, want 404", err)
	}
	if _, err := c.Delete(ctx, id); !client.IsNotFound(err) {
		t.Errorf("second delete: %v, want 404", err)
	}
}

func TestStopKillsProcessIgnoringSIGTERM(t *testing.T) {
	needHead(t)
	c, ctx := shared.c, context.Background()
	id := submit(t, c, api.SubmitRequest{Entrypoint: "trap '' TERM; echo armored; sleep 1000"})
	waitFor(t, c, id, "running with output", func(d *api.JobDetails) bool {
		l, _ := c.Logs(ctx, id)
		return d.Status == api.StatusRunning && l == "armored\n"
	})
	if ok, err := c.Stop(ctx, id); err != nil || !ok {
		t.Fatalf("stop = %v, %v", ok, err)
	}
	waitStatus(t, c, id, api.StatusStopped)
}

func TestDuplicateSubmissionID(t *testing.T) {
	needHead(t)
	c := shared.c
	id := submit(t, c, api.SubmitRequest{Entrypoint: "true", SubmissionID: "dup-id-1"})
	if id != "dup-id-1" {
		t.Fatalf("id %q", id)
	}
	_, err := c.Submit(context.Background(), api.SubmitRequest{Entrypoint: "echo again", SubmissionID: "dup-id-1"})
	// Ray's answer: 500, with the words KubeRay's clients look for.
	var he *client.HTTPError
	if !errors.As(err, &he) || he.StatusCode != http.StatusInternalServerError || !client.IsDuplicate(err) ||
		!strings.Contains(he.Body, "Job with submission_id dup-id-1 already exists. Please use a different submission_id.") {
		t.Errorf("duplicate submit: %v, want Ray's 500 already exists", err)
	}
	d := waitStatus(t, c, id, api.StatusSucceeded)
	if d.Entrypoint != "true" {
		t.Errorf("the duplicate replaced the job: %q", d.Entrypoint)
	}
}

func TestBadRequestsAndUnknownIDs(t *testing.T) {
	needHead(t)
	u := shared.url
	for _, tc := range []struct{ name, body, want string }{
		{"bad json", `{"entrypoint": `, "Invalid JobSubmitRequest"},
		{"not an object", `[1,2]`, "Invalid JobSubmitRequest"},
		{"missing entrypoint", `{"submission_id": "x"}`, "entrypoint is required"},
		{"entrypoint not a string", `{"entrypoint": 5}`, "Invalid JobSubmitRequest"},
		{"env_vars not strings", `{"entrypoint": "true", "runtime_env": {"env_vars": {"A": 1}}}`, "env_vars"},
		{"negative cpus", `{"entrypoint": "true", "entrypoint_num_cpus": -1}`, "non-negative"},
	} {
		code, _, body := httpDo(t, http.MethodPost, u+"/api/jobs/", tc.body)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %q, want 400 with %q", tc.name, code, body, tc.want)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/jobs/no-such-job"},
		{http.MethodGet, "/api/jobs/no-such-job/logs"},
		{http.MethodGet, "/api/jobs/no-such-job/logs/tail"},
		{http.MethodPost, "/api/jobs/no-such-job/stop"},
		{http.MethodDelete, "/api/jobs/no-such-job"},
	} {
		code, ctype, body := httpDo(t, tc.method, u+tc.path, "")
		if code != http.StatusNotFound || body != "Job no-such-job does not exist" || !strings.HasPrefix(ctype, "text/plain") {
			t.Errorf("%s %s: %d %s %q, want 404 text/plain", tc.method, tc.path, code, ctype, body)
		}
	}
	code, _, body := httpDo(t, http.MethodGet, u+"/api/version", "")
	var v api.VersionResponse
	if code != http.StatusOK || json.Unmarshal([]byte(body), &v) != nil || v.Version == "" {
		t.Errorf("version after bad requests: %d %q", code, body)
	}
	code, _, body = httpDo(t, http.MethodGet, u+"/api/jobs/", "")
	if code != http.StatusOK || !strings.HasPrefix(body, "[") {
		t.Errorf("list: %d %q", code, body)
	}
}
