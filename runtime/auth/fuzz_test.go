package auth

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzHTTPHandler feeds arbitrary Authorization, x-ray-authorization,
// Origin, Sec-Fetch-Site and Host values to the HTTP guard: it never
// panics, and a request reaches the API only when one of the headers holds
// exactly "Bearer <token>" (any case of "Bearer", spaces around the token)
// and it is not a cross-site browser write.
func FuzzHTTPHandler(f *testing.F) {
	f.Add("POST", "Bearer secret", "", "", "", "127.0.0.1")
	f.Add("GET", "", "Bearer secret", "", "", "head-svc:8265")
	f.Add("PUT", "bearer  secret ", "", "https://evil.example", "", "10.0.0.1")
	f.Add("DELETE", "Basic secret", "Bearer secre", "", "cross-site", "evil.example")
	f.Add("GET", "Bearer "+strings.Repeat("s", 5000), "", "", "same-origin", "[::1]:8265")
	f.Fuzz(func(t *testing.T, method, authz, rayAuthz, origin, fetchSite, host string) {
		reached := false
		h := NewToken("secret").Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { reached = true }), HTTPPolicy{Open: []string{"/healthz"}})
		r := httptest.NewRequest(http.MethodGet, "/api/jobs/", nil)
		if method != "" && !strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
			r.Method = method
		}
		for k, v := range map[string]string{"Authorization": authz, "X-Ray-Authorization": rayAuthz, "Origin": origin, "Sec-Fetch-Site": fetchSite} {
			if v != "" {
				r.Header.Set(k, v)
			}
		}
		r.Host = host
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		v := authz
		if v == "" {
			v = rayAuthz
		}
		tok, ok := bearer(v)
		if reached && (!ok || tok != "secret") {
			t.Fatalf("reached the API with Authorization %q, x-ray-authorization %q", authz, rayAuthz)
		}
		if !reached && w.Code != http.StatusUnauthorized && w.Code != http.StatusForbidden {
			t.Fatalf("refused with %d", w.Code)
		}
	})
}
