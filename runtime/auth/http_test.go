package auth

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandler(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	on := NewToken("secret").Handler(ok, HTTPPolicy{Open: []string{"/healthz"}})
	off := Config{}.Handler(ok, HTTPPolicy{Open: []string{"/healthz"}, AllowedHosts: []string{"ray.example.com"}})
	type req struct {
		method, path, host string
		header             map[string]string
	}
	for _, tc := range []struct {
		name string
		h    http.Handler
		req  req
		code int
		body string
	}{
		{"health is open", on, req{"GET", "/healthz", "10.0.0.1", nil}, 200, "ok"},
		{"a POST to the health path is not", on, req{"POST", "/healthz", "10.0.0.1", nil}, 401, "Bearer"},
		{"missing token", on, req{"GET", "/api/jobs/", "10.0.0.1", nil}, 401, "RAY_AUTH_TOKEN"},
		{"wrong token", on, req{"GET", "/api/jobs/", "10.0.0.1", map[string]string{"Authorization": "Bearer nope"}}, 401, "does not match"},
		{"not bearer", on, req{"GET", "/api/jobs/", "10.0.0.1", map[string]string{"Authorization": "Basic c2VjcmV0"}}, 401, "does not match"},
		{"authorization", on, req{"GET", "/api/jobs/", "10.0.0.1", map[string]string{"Authorization": "Bearer secret"}}, 200, "ok"},
		{"lowercase bearer", on, req{"GET", "/api/jobs/", "10.0.0.1", map[string]string{"Authorization": "bearer secret"}}, 200, "ok"},
		{"KubeRay's header", on, req{"POST", "/api/jobs/", "10.0.0.1", map[string]string{"x-ray-authorization": "Bearer secret"}}, 200, "ok"},
		{"a token makes any Host fine", on, req{"GET", "/api/jobs/", "ray.corp.example:8265", map[string]string{"Authorization": "Bearer secret"}}, 200, "ok"},
		{"cross-site browser POST, even with the token", on, req{"POST", "/api/jobs/", "10.0.0.1:8265",
			map[string]string{"Authorization": "Bearer secret", "Origin": "https://evil.example", "Content-Type": "text/plain"}}, 403, "cross-site"},
		{"Sec-Fetch-Site cross-site", off, req{"PUT", "/api/serve/applications/", "localhost:8265", map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross-site"},
		{"same-origin browser POST", off, req{"POST", "/api/jobs/", "localhost:8265", map[string]string{"Origin": "http://localhost:8265"}}, 200, "ok"},
		{"auth off: IP host", off, req{"POST", "/api/jobs/", "127.0.0.1:8265", nil}, 200, "ok"},
		{"auth off: service name", off, req{"GET", "/api/jobs/", "raycluster-head-svc.default.svc.cluster.local:8265", nil}, 200, "ok"},
		{"auth off: short name", off, req{"GET", "/api/jobs/", "raycluster-head-svc:8265", nil}, 200, "ok"},
		{"auth off: allowed host", off, req{"GET", "/api/jobs/", "RAY.example.com", nil}, 200, "ok"},
		{"auth off: rebound name, from a browser", off, req{"GET", "/api/jobs/", "evil.example:8265", map[string]string{"User-Agent": "Mozilla/5.0"}}, 403, "GORAY_ALLOWED_HOSTS"},
		{"auth off: rebound name, fetch metadata", off, req{"GET", "/api/jobs/", "evil.example:8265", map[string]string{"Sec-Fetch-Site": "same-origin"}}, 403, "GORAY_ALLOWED_HOSTS"},
		{"auth off: any name from a non-browser client", off, req{"GET", "/api/jobs/", "head.ray.corp.example:8265", map[string]string{"User-Agent": "Go-http-client/1.1"}}, 200, "ok"},
		{"auth off: health on any host", off, req{"GET", "/healthz", "evil.example", nil}, 200, "ok"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(tc.req.method, "http://"+tc.req.host+tc.req.path, strings.NewReader("{}"))
			for k, v := range tc.req.header {
				r.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			tc.h.ServeHTTP(w, r)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.body) {
				t.Fatalf("%d %q, want %d with %q", w.Code, w.Body.String(), tc.code, tc.body)
			}
			if w.Code == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Fatal("a 401 without WWW-Authenticate")
			}
		})
	}
}

func TestTransport(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization")+"|"+r.Header.Get("X-Ray-Authorization"))
	}))
	defer srv.Close()
	c := &http.Client{Transport: NewToken("secret").Transport(nil)}
	resp, err := c.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("x-ray-authorization", "Bearer other")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if req.Header.Get("Authorization") != "" {
		t.Fatal("the transport changed the caller's request")
	}
	if strings.Join(got, ",") != "Bearer secret|,|Bearer other" {
		t.Fatalf("headers sent: %q", got)
	}
	if (Config{}).Transport(nil) != http.DefaultTransport {
		t.Fatal("no token: the default transport")
	}
}
