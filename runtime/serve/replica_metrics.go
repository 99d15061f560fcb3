package serve

import (
	"bufio"
	"math"
	"net"
	"net/http"
	"sort"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
)

// replicaMetrics is what a replica counts of the requests its handler
// answers, read by the controller with its Stats and exported on the head
// as Ray's replica metrics. Atomic adds only: it is on every request.
type replicaMetrics struct {
	requests, errors atomic.Int64
	latency          [metrics.NumLatencyBuckets + 1]atomic.Uint64
	sumMicros        atomic.Int64
}

// observe counts one answered request: its status and processing time.
func (m *replicaMetrics) observe(status int, d time.Duration) {
	m.requests.Add(1)
	if status >= 500 {
		m.errors.Add(1)
	}
	ms := float64(d) / float64(time.Millisecond)
	m.latency[sort.SearchFloat64s(metrics.LatencyBucketsMs, ms)].Add(1)
	m.sumMicros.Add(d.Microseconds())
}

// fill puts the counts into a Stats answer.
func (m *replicaMetrics) fill(st *wire.Stats) {
	st.Requests, st.Errors = m.requests.Load(), m.errors.Load()
	st.Latency = make([]uint64, len(m.latency))
	for i := range m.latency {
		st.Latency[i] = m.latency[i].Load()
	}
	st.LatencySumMs = math.Round(float64(m.sumMicros.Load())) / 1000
}

// statusWriter remembers the status a handler answered with. It passes
// flushes and hijacks through (streamed answers and upgrades), and Unwrap
// lets http.ResponseController reach the writer underneath.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// setOutcome replaces the status counted with code: a gRPC call's answer
// is 200 whatever its status, which GRPCServer reports this way.
func (w *statusWriter) setOutcome(code int) { w.status = code }

// code is the answer's status: 200 for a handler that wrote nothing.
func (w *statusWriter) code() int {
	if w.status == 0 {
		return http.StatusOK
	}
	return w.status
}
