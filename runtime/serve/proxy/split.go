package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// splitter forwards the share of requests a routing table's Split names to
// the split's target (another cluster's serve proxies, during a RayService's
// incremental upgrade). The request goes as the client sent it (path, query,
// Host, body; streamed both ways, WebSocket upgrades included) with
// routes.SplitHeader set, so the proxy on the other side serves it itself.
// A request that cannot reach the target and whose body can be sent again
// is served by this cluster instead, when it cannot have been served there
// (no connection was made) or serving it twice is harmless (an idempotent
// method): a failed hop does not fail the client's request.
type splitter struct {
	mu      sync.Mutex
	target  string
	forward *httputil.ReverseProxy
}

// splitBody is the largest request body (of known length) the splitter
// reads whole so that it can serve the request itself when the target
// cannot be reached; a larger or streamed body goes once, and a failure
// to reach the target answers 502.
const splitBody = inlineBody

// splitDialTimeout bounds the connection to the split's target.
const splitDialTimeout = 2 * time.Second

// splitFallbackKey carries, in a forwarded request's context, what to do
// when the target cannot be reached.
type splitFallbackKey struct{}

type splitFallback struct {
	local func(http.ResponseWriter, *http.Request) // serves the request in this cluster
	body  []byte                                   // the request's body, read whole (nil: none)
	again bool                                     // the body can be sent again
}

// proxyFor is the reverse proxy to target, made once per target.
func (s *splitter) proxyFor(target string) (*httputil.ReverseProxy, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.forward != nil && s.target == target {
		return s.forward, nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil // the target is a cluster-internal Service
	// A target that drops connections (a NetworkPolicy) must not hold a
	// request long before it is served here instead.
	tr.DialContext = (&net.Dialer{Timeout: splitDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.MaxIdleConnsPerHost = 256
	tr.ResponseHeaderTimeout = 0
	tr.IdleConnTimeout = 30 * time.Second
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
			pr.Out.Header.Set(routes.SplitHeader, "1")
		},
		Transport:     tr,
		FlushInterval: -1, // a streamed answer reaches the client as it comes
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			fb, _ := r.Context().Value(splitFallbackKey{}).(*splitFallback)
			if fb != nil && fb.again && r.Context().Err() == nil && servedNowhere(r, err) {
				in := r.Clone(r.Context())
				in.Header.Del(routes.SplitHeader)
				if fb.body != nil {
					in.Body, in.ContentLength = io.NopCloser(bytes.NewReader(fb.body)), int64(len(fb.body))
				} else {
					in.Body, in.ContentLength = http.NoBody, 0
				}
				fb.local(w, in)
				return
			}
			if r.Context().Err() != nil {
				w.WriteHeader(499) // the client went away
				return
			}
			http.Error(w, "the traffic split's target cannot be reached: "+err.Error(), http.StatusBadGateway)
		},
	}
	if s.forward != nil {
		// The split moved to another target (a new upgrade): the old
		// target's idle connections go.
		s.forward.Transport.(*http.Transport).CloseIdleConnections()
	}
	s.target, s.forward = target, rp
	return rp, nil
}

// serve forwards in to split.Target, or serves it with local when the
// target cannot be reached and the request can still be served here.
func (s *splitter) serve(w http.ResponseWriter, in *http.Request, split routes.Split, local func(http.ResponseWriter, *http.Request)) {
	rp, err := s.proxyFor(split.Target)
	if err != nil {
		local(w, in)
		return
	}
	fb := &splitFallback{local: local}
	switch {
	case in.Body == nil || in.Body == http.NoBody || in.ContentLength == 0 && !isUpgrade(in) && len(in.TransferEncoding) == 0:
		fb.again = true
		in.Body, in.ContentLength = http.NoBody, 0
	case in.ContentLength > 0 && in.ContentLength <= splitBody:
		b := make([]byte, in.ContentLength)
		if _, err := io.ReadFull(in.Body, b); err != nil {
			http.Error(w, "read request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		fb.body, fb.again = b, true
		in.Body = io.NopCloser(bytes.NewReader(b))
	}
	rp.ServeHTTP(w, in.WithContext(context.WithValue(in.Context(), splitFallbackKey{}, fb)))
}

// servedNowhere reports whether a request that failed with err cannot have
// been served by the target: the connection was never made, or the method
// is idempotent (serving it again is harmless).
func servedNowhere(r *http.Request, err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return false
}

// statusWriter remembers the status a response was sent with; Unwrap lets
// http.ResponseController flush and hijack through it.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote && code >= 200 {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
