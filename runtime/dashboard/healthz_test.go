package dashboard

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestUnifiedHealthz checks /api/healthz as Ray's HealthzAgent answers it:
// a line per check, 503 when either fails, both checked whatever the other
// says.
func TestUnifiedHealthz(t *testing.T) {
	ok := &fakeGcs{alive: true}
	dead := &fakeGcs{alive: false}
	down := &fakeGcs{err: status.Error(codes.Unavailable, "connection refused")}
	refused := &fakeGcs{err: status.Error(codes.PermissionDenied, "no")}
	for _, c := range []struct {
		name string
		h    http.Handler
		code int
		body string
	}{
		{"head agent", AgentMux(ok, "n:1", true), 200, "raylet: success\ngcs: success"},
		{"worker agent", AgentMux(ok, "n:1", false), 200, "raylet: success\ngcs: success (no local gcs)"},
		{"dead node on the head", AgentMux(dead, "n:1", true), 503, "raylet: Local Raylet failed\ngcs: success"},
		{"dead worker", AgentMux(dead, "n:1", false), 503, "raylet: Local Raylet failed\ngcs: success (no local gcs)"},
		// An unreachable GCS is the head's failure, not a worker's.
		{"head agent, GCS down", AgentMux(down, "n:1", true), 503,
			"raylet: success\ngcs: GCS health check failed: rpc error: code = Unavailable desc = connection refused"},
		{"worker agent, GCS down", AgentMux(down, "n:1", false), 200, "raylet: success\ngcs: success (no local gcs)"},
		{"worker agent, GCS refuses", AgentMux(refused, "n:1", false), 503,
			"raylet: Local Raylet failed: rpc error: code = PermissionDenied desc = no\ngcs: success (no local gcs)"},
		{"dashboard in the head", New(ok, "n:1").Mux, 200, "raylet: success\ngcs: success"},
		{"dashboard process", New(ok, "").Mux, 200, "raylet: success (no local raylet)\ngcs: success"},
		{"dashboard process, GCS down", New(down, "").Mux, 503,
			"raylet: success (no local raylet)\ngcs: GCS health check failed: rpc error: code = Unavailable desc = connection refused"},
	} {
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, HealthPath, nil))
		if rec.Code != c.code || rec.Body.String() != c.body || rec.Header().Get("Content-Type") != "application/text" {
			t.Errorf("%s: %d %q (%s), want %d %q", c.name, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), c.code, c.body)
		}
	}
}
