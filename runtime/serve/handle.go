package serve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/internal/workerenv"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// Handle calls another deployment of the calling replica's application, with
// the same routing as the proxy (power of two choices, max_ongoing_requests,
// retries on replica failure).
type Handle struct {
	app, deployment string
	r               *router.Router
}

var handles = struct {
	sync.Mutex
	watcher *routes.Watcher
	routers map[string]*router.Router // app/deployment
}{routers: map[string]*router.Router{}}

func watcher() (*routes.Watcher, error) {
	handles.Lock()
	defer handles.Unlock()
	if handles.watcher != nil {
		return handles.watcher, nil
	}
	addr := workerenv.Current().GcsAddress
	if addr == "" {
		return nil, errors.New("serve handles work inside replicas (no GORAY_GCS_ADDRESS)")
	}
	sec, err := auth.Process()
	if err != nil {
		return nil, err
	}
	conn, err := rpcutil.Dial(addr, sec)
	if err != nil {
		return nil, err
	}
	w := routes.NewWatcher(context.Background(), rpcpb.NewGcsClient(conn), 100*time.Millisecond)
	handles.watcher = w
	go w.Subscribe(func(t *routes.Table) {
		handles.Lock()
		defer handles.Unlock()
		for _, a := range t.Apps {
			for name, d := range a.Deployments {
				if r, ok := handles.routers[a.Name+"/"+name]; ok {
					r.Update(d)
				}
			}
		}
	})
	return w, nil
}

// GetHandle returns a handle to a deployment of this replica's application.
func GetHandle(deployment string) (*Handle, error) {
	r := current.Load()
	if r == nil {
		return nil, errors.New("serve.GetHandle is called from a replica's handler")
	}
	return GetAppHandle(r.init.App, deployment)
}

// GetAppHandle returns a handle to a deployment of any application.
func GetAppHandle(app, deployment string) (*Handle, error) {
	w, err := watcher()
	if err != nil {
		return nil, err
	}
	key := app + "/" + deployment
	handles.Lock()
	rt, ok := handles.routers[key]
	if !ok {
		rt = router.New(workerenv.Current().NodeID)
		handles.routers[key] = rt
	}
	handles.Unlock()
	if !ok {
		select {
		case <-w.Ready():
		case <-time.After(10 * time.Second):
		}
		for _, a := range w.Current().Apps {
			if d, found := a.Deployments[deployment]; found && a.Name == app {
				rt.Update(d)
			}
		}
	}
	return &Handle{app: app, deployment: deployment, r: rt}, nil
}

// inlineBody is the largest request body (of known length) Do reads whole
// before sending: such a body can be sent again if a replica fails before
// answering. Larger bodies, and those of unknown length, stream.
const inlineBody = 64 << 10

// Do sends req (its URL's path and query; the host is ignored) to a replica.
// The caller closes the response body.
//
// Both bodies stream: the response's body reads as the handler writes and
// flushes it (an event stream, tokens), and a request body larger than
// 64 KiB or of unknown length (ContentLength -1, e.g. an io.Pipe) goes to
// the handler as it reads it, even while the response is being read. Do
// closes the request body once the response body is closed (or on error).
func (h *Handle) Do(req *http.Request) (*http.Response, error) {
	var body []byte
	var stream io.ReadCloser
	switch {
	case req.Body == nil || req.Body == http.NoBody:
	case req.ContentLength > 0 && req.ContentLength <= inlineBody:
		b := make([]byte, req.ContentLength)
		_, err := io.ReadFull(req.Body, b)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("call %s/%s: read request body: %w", h.app, h.deployment, err)
		}
		body = b
	default:
		stream = req.Body
	}
	resp, done, err := h.r.Send(req.Context(), 60*time.Second, req.Header.Get(router.ModelIDHeader), func(addr string) (*http.Request, error) {
		out := req.Clone(req.Context())
		out.URL.Scheme, out.URL.Host, out.Host = "http", addr, ""
		out.RequestURI = ""
		switch {
		case body != nil:
			out.Body, out.ContentLength = hop.NewBody(body), int64(len(body))
		case stream != nil:
			// The same body for every attempt: one that failed before
			// the handler read any of it left it untouched.
			out.Body = stream
		}
		return out, nil
	})
	if err != nil {
		if stream != nil {
			_ = stream.Close()
		}
		return nil, fmt.Errorf("call %s/%s: %w", h.app, h.deployment, err)
	}
	resp.Body = &doneBody{ReadCloser: resp.Body, done: done, reqBody: stream}
	return resp, nil
}

// Get sends a GET for path and returns the body; a non-2xx status is an error.
func (h *Handle) Get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://replica"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := h.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s/%s%s: %s: %s", h.app, h.deployment, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

type doneBody struct {
	io.ReadCloser
	done    func()
	reqBody io.Closer // a streamed request body (nil if none)
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	if b.reqBody != nil {
		_ = b.reqBody.Close()
	}
	b.done()
	return err
}
