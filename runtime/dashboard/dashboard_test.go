package dashboard

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

type fakeGcs struct {
	rpcpb.GcsClient
	alive bool
	err   error
}

func (f *fakeGcs) CheckAlive(ctx context.Context, in *rpcpb.CheckAliveRequest, _ ...grpc.CallOption) (*rpcpb.CheckAliveReply, error) {
	if f.err != nil {
		return nil, f.err
	}
	out := &rpcpb.CheckAliveReply{}
	for range in.Addresses {
		out.Alive = append(out.Alive, f.alive)
	}
	return out, nil
}

func get(t *testing.T, h http.Handler, path string) (int, string) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestHealthEndpoints(t *testing.T) {
	ok := &fakeGcs{alive: true}
	if code, body := get(t, New(ok, "").Mux, "/api/gcs_healthz"); code != 200 || body != "success" {
		t.Fatalf("gcs_healthz: %d %q", code, body)
	}
	down := &fakeGcs{err: status.Error(codes.Unavailable, "down")}
	if code, _ := get(t, New(down, "").Mux, "/api/gcs_healthz"); code != 503 {
		t.Fatalf("gcs_healthz with GCS down: %d", code)
	}
	if code, body := get(t, AgentMux(ok, "n:1", false), "/api/local_raylet_healthz"); code != 200 || body != "success" {
		t.Fatalf("raylet healthz: %d %q", code, body)
	}
	// An unreachable GCS does not fail the node's probe (as in Ray).
	if code, _ := get(t, AgentMux(down, "n:1", false), "/api/local_raylet_healthz"); code != 200 {
		t.Fatalf("raylet healthz with GCS down: %d", code)
	}
	dead := &fakeGcs{alive: false}
	if code, body := get(t, AgentMux(dead, "n:1", false), "/api/local_raylet_healthz"); code != 503 || body != "Local Raylet failed\n" {
		t.Fatalf("raylet healthz of a dead node: %d %q", code, body)
	}
}
