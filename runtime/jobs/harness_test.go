package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The unit tests of this package run a Manager against a real GCS served
// over gRPC on loopback (as the head serves it, with 64 MiB messages) and
// reached through a client made with gRPC's defaults, as the dashboard's is
// (cmd/goray): so a record too large for a default client breaks here the
// way it broke on a real head. No node runs: jobs without entrypoint
// resources need none.

// syncBuffer is a log destination the supervisor goroutines write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type testEnv struct {
	m   *Manager
	mux *http.ServeMux
	log *syncBuffer
	// big reaches the same GCS with 64 MiB messages: to plant records the
	// API would refuse (left by older versions, or written by hand).
	big rpcpb.GcsClient
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := gcs.New(gcs.Config{Dir: t.TempDir(), Logger: log.New(io.Discard, "", 0)})
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(64<<20), grpc.MaxSendMsgSize(64<<20))
	rpcpb.RegisterGcsServer(srv, g)
	go srv.Serve(lis)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	bigConn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
	if err != nil {
		t.Fatal(err)
	}
	lb := &syncBuffer{}
	m, err := NewManager(context.Background(), Config{GCS: rpcpb.NewGcsClient(conn), GcsAddress: lis.Addr().String(),
		Dir: t.TempDir(), StopGrace: time.Second, Logger: log.New(lb, "[jobs] ", 0)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	m.Register(mux)
	t.Cleanup(func() {
		m.Close()
		_ = conn.Close()
		_ = bigConn.Close()
		srv.Stop()
		g.Stop()
	})
	return &testEnv{m: m, mux: mux, log: lb, big: rpcpb.NewGcsClient(bigConn)}
}

// do sends a request to the API's handlers (in process: a body the server
// refuses unread makes a real client's write race the 413).
func (e *testEnv) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

// submit posts a request that must be accepted.
func (e *testEnv) submit(t *testing.T, req api.SubmitRequest) string {
	t.Helper()
	b, _ := json.Marshal(req)
	code, body := e.do(t, http.MethodPost, "/api/jobs/", string(b))
	if code != http.StatusOK {
		t.Fatalf("submit: %d %s", code, clipForTest(body))
	}
	var rep api.SubmitResponse
	if err := json.Unmarshal([]byte(body), &rep); err != nil {
		t.Fatal(err)
	}
	return rep.SubmissionID
}

// list returns the ids GET /api/jobs/ shows; the listing must succeed.
func (e *testEnv) list(t *testing.T) map[string]api.JobDetails {
	t.Helper()
	code, body := e.do(t, http.MethodGet, "/api/jobs/", "")
	if code != http.StatusOK {
		t.Fatalf("GET /api/jobs/: %d %s", code, clipForTest(body))
	}
	var jobs []api.JobDetails
	if err := json.Unmarshal([]byte(body), &jobs); err != nil {
		t.Fatalf("listing: %v", err)
	}
	out := map[string]api.JobDetails{}
	for _, j := range jobs {
		out[j.ID()] = j
	}
	return out
}

// waitTerminal polls a job until it ended.
func (e *testEnv) waitTerminal(t *testing.T, id string) *api.JobDetails {
	t.Helper()
	end := time.Now().Add(60 * time.Second)
	for time.Now().Before(end) {
		d, err := e.m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.IsTerminal() {
			return d
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", id)
	return nil
}

// plant writes a record into the KV as is.
func (e *testEnv) plant(t *testing.T, id string, value []byte) {
	t.Helper()
	_, err := e.big.KvPut(context.Background(), &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + id, Value: value, Overwrite: true})
	if err != nil {
		t.Fatal(err)
	}
}

// plantJob writes a terminal job record.
func (e *testEnv) plantJob(t *testing.T, id string, meta map[string]string) {
	t.Helper()
	now := time.Now().UnixMilli()
	msg := api.MsgSucceeded
	rec := record{JobDetails: api.JobDetails{Type: api.JobTypeSubmission, SubmissionID: &id, Status: api.StatusSucceeded,
		Entrypoint: "true", Message: &msg, StartTime: &now, EndTime: &now, Metadata: meta}}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	e.plant(t, id, b)
}

func clipForTest(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

// measureAlloc is how many bytes f allocated (on every goroutine: the
// callers keep other work quiet while it runs).
func measureAlloc(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
