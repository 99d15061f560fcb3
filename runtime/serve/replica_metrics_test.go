package serve

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
)

func TestReplicaMetricsCountRequestsErrorsAndLatency(t *testing.T) {
	var m replicaMetrics
	m.observe(200, 500*time.Microsecond)
	m.observe(404, 7*time.Millisecond)
	m.observe(503, 10*time.Second)
	var st wire.Stats
	m.fill(&st)
	if st.Requests != 3 || st.Errors != 1 {
		t.Fatalf("requests %d errors %d, want 3 and 1 (only 5xx is an error)", st.Requests, st.Errors)
	}
	if len(st.Latency) != metrics.NumLatencyBuckets+1 || st.Latency[0] != 1 || st.Latency[3] != 1 || st.Latency[metrics.NumLatencyBuckets] != 1 {
		t.Fatalf("latency counts %v: want one ≤1 ms, one ≤10 ms, one above the last bucket", st.Latency)
	}
	if st.LatencySumMs != 10007.5 {
		t.Fatalf("latency sum %v ms", st.LatencySumMs)
	}
}

// The writer a handler gets keeps what streaming needs: flushes reach the
// writer underneath, ResponseController finds it, and the status is seen.
func TestStatusWriterPassesFlushesThrough(t *testing.T) {
	rec := httptest.NewRecorder()
	w := &statusWriter{ResponseWriter: rec}
	var _ http.Flusher = w
	if _, err := w.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	w.Flush()
	if !rec.Flushed || w.code() != http.StatusOK {
		t.Fatalf("flushed %v, status %d", rec.Flushed, w.code())
	}
	dw := &deadlineWriter{ResponseWriter: rec}
	if err := http.NewResponseController(&statusWriter{ResponseWriter: dw}).SetWriteDeadline(time.Now().Add(time.Second)); err != nil || !dw.set {
		t.Fatalf("ResponseController did not reach the writer underneath: %v", err)
	}
	if _, _, err := w.Hijack(); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Hijack on a writer that cannot: %v", err)
	}

	w = &statusWriter{ResponseWriter: httptest.NewRecorder()}
	w.WriteHeader(http.StatusBadGateway)
	w.WriteHeader(http.StatusOK) // superfluous: the first stands
	if w.code() != http.StatusBadGateway {
		t.Fatalf("status %d", w.code())
	}
	if (&statusWriter{}).code() != http.StatusOK {
		t.Fatal("a handler that writes nothing answers 200")
	}
}

// deadlineWriter is a writer with a write deadline, as the server's own is.
type deadlineWriter struct {
	http.ResponseWriter
	set bool
}

func (w *deadlineWriter) SetWriteDeadline(time.Time) error { w.set = true; return nil }
