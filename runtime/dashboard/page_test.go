package dashboard

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/auth"
)

// With token auth on, the dashboard listener gives anyone the page's shell
// and nothing else; the page's login opens the API to that browser.
func TestPageBehindTokenAuth(t *testing.T) {
	h := auth.NewToken("secret").Handler(New(&fakeGcs{alive: true}, "").Mux, Policy())
	do := func(method, path string, hdr map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, "http://127.0.0.1:8265"+path, nil)
		r.Header.Set("User-Agent", "Mozilla/5.0")
		r.Header.Set("Sec-Fetch-Site", "same-origin")
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		for _, c := range cookies {
			r.AddCookie(c)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("GET", "/", nil); w.Code != 200 || !strings.Contains(w.Body.String(), "app.js") {
		t.Fatalf("the shell without the token: %d", w.Code)
	}
	if w := do("GET", "/app.js", nil); w.Code != 200 {
		t.Fatalf("the script without the token: %d", w.Code)
	}
	if w := do("GET", "/api/gcs_healthz", nil); w.Code != 200 {
		t.Fatalf("health without the token: %d", w.Code)
	}
	for _, p := range []string{"/api/version", "/api/cluster_status", "/api/v0/actors", "/index.html", "/nothing"} {
		if w := do("GET", p, nil); w.Code != 401 {
			t.Errorf("GET %s without the token: %d", p, w.Code)
		}
	}
	w := do("POST", auth.LoginPath, map[string]string{"Authorization": "Bearer secret"})
	if w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Fatalf("login: %d %v", w.Code, w.Result().Cookies())
	}
	// Past the auth layer: the mux's own 404, not a 401.
	if w := do("GET", "/nothing", nil, w.Result().Cookies()[0]); w.Code != 404 {
		t.Fatalf("with the session: %d %q", w.Code, w.Body.String())
	}
}
