// Package streaming is goray's streaming serve example: the application
// "streaming", whose handlers stream the way an LLM inference API does —
// server-sent events flushed one at a time, uploads read as they arrive, a
// WebSocket — through the node's proxy and through a deployment handle.
// Deploy it with examples/serve/streaming.yaml, or a config of your own:
//
//	applications:
//	  - name: streaming
//	    route_prefix: /stream
//	    import_path: streaming
//
// Paths of the ingress ("Stream"):
//
//	/events?n=10&interval_ms=50   n server-sent events, one every interval_ms
//	/relay?n=10&interval_ms=50    the same events from the "Tokens" deployment through a handle
//	/upload                       reads the request body as it streams in; answers its length and CRC-32
//	/upload-via-handle            passes the request body on to /upload through a handle, as it streams in
//	/ws                           a WebSocket that echoes every message
//	/wait?id=X                    streams until the client goes away; /cancelled?id=X then says "true"
//
// Every event's data is "<index> <unix nanoseconds at its flush>", so a
// client can tell how long each event took to reach it; /relay adds the
// microseconds the event took to reach the relaying handler.
package streaming

import (
	"bufio"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/goray-dev/goray/runtime/serve"
)

// param reads an integer query parameter within [lo, hi] (def when absent
// or out of range).
func param(r *http.Request, name string, def, lo, hi int) int {
	v, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil || v < lo || v > hi {
		return def
	}
	return v
}

// Events streams n server-sent events, one every interval_ms, each flushed
// as it is written (http.Flusher: through the proxy it reaches the client at
// once). It stops early when the client goes away (its context ends).
func Events(w http.ResponseWriter, r *http.Request) {
	n := param(r, "n", 10, 0, 1_000_000)
	interval := time.Duration(param(r, "interval_ms", 50, 0, 60_000)) * time.Millisecond
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	rc := http.NewResponseController(w)
	for i := range n {
		if i > 0 && interval > 0 {
			select {
			case <-time.After(interval):
			case <-r.Context().Done():
				return
			}
		}
		fmt.Fprintf(w, "id: %d\ndata: %d %d\n\n", i, i, time.Now().UnixNano())
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// Upload reads the request body as it arrives (it is never held whole, in
// the proxy or here) and answers its length and CRC-32.
func Upload(w http.ResponseWriter, r *http.Request) {
	h := crc32.NewIEEE()
	n, err := io.Copy(h, r.Body)
	if err != nil {
		http.Error(w, fmt.Sprintf("after %d bytes: %v", n, err), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"bytes\":%d,\"crc32\":\"%08x\"}\n", n, h.Sum32())
}

// Echo is a WebSocket that sends every message back.
func Echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, nil)
	if err != nil {
		return // Accept answered the client
	}
	defer c.CloseNow()
	for {
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		if err := c.Write(r.Context(), typ, msg); err != nil {
			return
		}
	}
}

// relay streams the Tokens deployment's events through a handle: each
// event is passed on as it arrives, with how long it took to get here.
func relay(w http.ResponseWriter, r *http.Request) {
	h, err := serve.GetHandle("Tokens")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	q := fmt.Sprintf("/?n=%d&interval_ms=%d", param(r, "n", 10, 0, 1_000_000), param(r, "interval_ms", 50, 0, 60_000))
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, "http://tokens"+q, nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	resp, err := h.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var i int
			var sent int64
			if _, err := fmt.Sscanf(data, "%d %d", &i, &sent); err == nil {
				lag := time.Since(time.Unix(0, sent))
				line = fmt.Sprintf("data: %d %d %d", i, sent, lag.Microseconds())
			}
		}
		fmt.Fprintln(w, line)
		if line == "" {
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// uploadViaHandle streams the request body to this deployment's /upload
// through a handle (Handle.Do streams a body over 64 KiB or of unknown
// length as it is read) and answers what /upload answered.
func uploadViaHandle(w http.ResponseWriter, r *http.Request) {
	h, err := serve.GetHandle("Stream")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPut, "http://stream/upload", r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	req.ContentLength = r.ContentLength
	resp, err := h.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// waits remembers which /wait requests saw their context cancelled (the
// last maxWaits ids).
var waits = struct {
	sync.Mutex
	done  map[string]bool
	order []string
}{done: map[string]bool{}}

const maxWaits = 1000

func wait(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	if id == "" || len(id) > 64 {
		http.Error(w, "want ?id= (at most 64 bytes)", http.StatusBadRequest)
		return
	}
	fmt.Fprintln(w, "waiting")
	_ = http.NewResponseController(w).Flush()
	select {
	case <-r.Context().Done():
	case <-time.After(5 * time.Minute):
		return
	}
	waits.Lock()
	defer waits.Unlock()
	waits.done[id] = true
	waits.order = append(waits.order, id)
	if len(waits.order) > maxWaits {
		delete(waits.done, waits.order[0])
		waits.order = waits.order[1:]
	}
}

func cancelled(w http.ResponseWriter, r *http.Request) {
	waits.Lock()
	done := waits.done[r.URL.Query().Get("id")]
	waits.Unlock()
	fmt.Fprintln(w, done)
}

// Stream is the ingress deployment.
var Stream = serve.Deployment("Stream", func(ctx context.Context, _ struct{}) (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("/events", Events)
	mux.HandleFunc("/relay", relay)
	mux.HandleFunc("/upload", Upload)
	mux.HandleFunc("/upload-via-handle", uploadViaHandle)
	mux.HandleFunc("/ws", Echo)
	mux.HandleFunc("/wait", wait)
	mux.HandleFunc("/cancelled", cancelled)
	return mux, nil
}, serve.NumReplicas(1), serve.NumCPUs(0.1), serve.MaxOngoingRequests(100))

// Tokens streams events to /relay through a handle.
var Tokens = serve.Deployment("Tokens", func(ctx context.Context, _ struct{}) (http.Handler, error) {
	return http.HandlerFunc(Events), nil
}, serve.NumReplicas(1), serve.NumCPUs(0.1), serve.MaxOngoingRequests(100))

// App is the application "streaming" (import_path: streaming).
var App = serve.Application("streaming", Stream, Tokens)
