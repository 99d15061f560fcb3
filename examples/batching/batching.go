// Package batching is goray's example of dynamic request batching (Ray
// Serve's @serve.batch): the application "batching" with one deployment,
// "Batched", whose handler gathers concurrent requests into batches and
// handles each batch with one call, as a model server does to use an
// accelerator well. Deploy it with a serve config:
//
//	applications:
//	  - name: batching
//	    route_prefix: /batch
//	    import_path: batching
//	    deployments:
//	      - name: Batched
//	        max_ongoing_requests: 64
//	        user_config: {max_batch_size: 8, batch_wait_timeout_s: 0.05}
//
// POST (or GET with ?text=) some text: the answer is the text upper-cased,
// and the X-Batch-Size header says how many requests its batch held.
// max_ongoing_requests must be at least max_batch_size: a replica takes no
// more requests at once than that, so a larger batch could never fill.
package batching

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/serve"
)

// Config is Batched's user_config: Ray's batch parameters, changed in
// place when the config changes.
type Config struct {
	MaxBatchSize      int     `json:"max_batch_size"`
	BatchWaitTimeoutS float64 `json:"batch_wait_timeout_s"`
}

// result is what one request gets back from its batch.
type result struct {
	text  string
	batch int
}

// Handler answers requests through its batcher.
type Handler struct {
	b *serve.Batcher[string, result]
}

// upperBatch is the batch function: one pass over every request's text.
func upperBatch(ctx context.Context, texts []string) ([]result, error) {
	out := make([]result, len(texts))
	for i, t := range texts {
		out[i] = result{text: strings.ToUpper(t), batch: len(texts)}
	}
	return out, nil
}

func options(cfg Config) serve.BatchOptions {
	o := serve.BatchOptions{MaxBatchSize: cfg.MaxBatchSize}
	if cfg.BatchWaitTimeoutS > 0 {
		o.WaitTimeout = time.Duration(cfg.BatchWaitTimeoutS * float64(time.Second))
	}
	return o
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	text := r.URL.Query().Get("text")
	if r.Method == http.MethodPost {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		text = string(b)
	}
	res, err := h.b.Call(r.Context(), text)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("X-Batch-Size", strconv.Itoa(res.batch))
	fmt.Fprint(w, res.text)
}

// Reconfigure applies a new user_config to the batcher (Ray's
// set_max_batch_size and set_batch_wait_timeout_s).
func (h *Handler) Reconfigure(ctx context.Context, cfg Config) error {
	o := options(cfg)
	if o.MaxBatchSize > 0 {
		h.b.SetMaxBatchSize(o.MaxBatchSize)
	}
	if o.WaitTimeout > 0 {
		h.b.SetWaitTimeout(o.WaitTimeout)
	}
	return nil
}

// Shutdown stops the batcher when the replica stops.
func (h *Handler) Shutdown(ctx context.Context) { h.b.Close() }

// New makes the handler (the deployment builds it; tests call it directly).
func New(cfg Config) *Handler { return &Handler{b: serve.NewBatcher(upperBatch, options(cfg))} }

// Batched is the deployment.
var Batched = serve.Deployment("Batched", func(ctx context.Context, cfg Config) (http.Handler, error) {
	return New(cfg), nil
}, serve.MaxOngoingRequests(64))

// App is the application "batching".
var App = serve.Application("batching", Batched)
