package controller

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// PUT /api/serve/traffic_split/ sets the split the proxies follow: it is
// published with the routing table, GET answers it, a bad or oversized
// body is refused and leaves it as it was, percent 0 clears it, and a
// resumed controller goes on with the published one.
func TestTrafficSplitAPI(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	c := tc.c
	mux := http.NewServeMux()
	c.Register(mux)
	call := func(method, body string) (int, string) {
		req := httptest.NewRequest(method, schema.TrafficSplitPath, strings.NewReader(body))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec.Code, strings.TrimSpace(rec.Body.String())
	}
	publish := func() routes.Table {
		c.mu.Lock()
		tb := c.tableLocked()
		c.mu.Unlock()
		c.publish(tb)
		return publishedTable(t, c)
	}
	if code, body := call(http.MethodPut, `{"target_url":"http://svc.ns.svc:8000/","percent":30}`); code != http.StatusOK ||
		body != `{"target_url":"http://svc.ns.svc:8000","percent":30}` {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if got := publish().Split; got != (routes.Split{Target: "http://svc.ns.svc:8000", Percent: 30}) {
		t.Fatalf("published split %+v", got)
	}
	for _, bad := range []struct {
		body string
		code int
	}{
		{`{"target_url":"http://a:8000","percent":101}`, http.StatusBadRequest},
		{`{"target_url":"http://a:8000","percent":-1}`, http.StatusBadRequest},
		{`{"percent":10}`, http.StatusBadRequest},
		{`{"target_url":"ftp://a:8000","percent":10}`, http.StatusBadRequest},
		{`{"target_url":"http://a:8000/x","percent":10}`, http.StatusBadRequest},
		{`{"target_url":"http://u:p@a:8000","percent":10}`, http.StatusBadRequest},
		{`{"target_url":"http://a:8000","percent":10,"weight":3}`, http.StatusBadRequest},
		{`{"target_url":"http://a:8000","percent":10} {}`, http.StatusBadRequest},
		{`{"target_url":"http://a:8000/` + strings.Repeat("x", schema.MaxTrafficSplitBytes) + `","percent":10}`, http.StatusRequestEntityTooLarge},
	} {
		if code, body := call(http.MethodPut, bad.body); code != bad.code {
			t.Errorf("PUT %.60s: %d %s, want %d", bad.body, code, body, bad.code)
		}
	}
	if code, body := call(http.MethodGet, ""); code != http.StatusOK || body != `{"target_url":"http://svc.ns.svc:8000","percent":30}` {
		t.Fatalf("GET after refused PUTs: %d %s", code, body)
	}
	// A restarted controller (a head restart on durable storage) resumes the split.
	c.mu.Lock()
	c.split, c.published = routes.Split{}, nil
	c.mu.Unlock()
	c.loadPublished(context.Background())
	if got := c.TrafficSplit(); got.Percent != 30 || got.TargetURL != "http://svc.ns.svc:8000" {
		t.Fatalf("after loadPublished: %+v", got)
	}
	if code, body := call(http.MethodPut, `{"target_url":"http://svc.ns.svc:8000","percent":0}`); code != http.StatusOK || body != `{"target_url":"","percent":0}` {
		t.Fatalf("PUT percent 0: %d %s", code, body)
	}
	if got := publish().Split; got != (routes.Split{}) {
		t.Fatalf("published split after percent 0: %+v", got)
	}
}
