package auth

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestSessionValue(t *testing.T) {
	c, other := NewToken("secret"), NewToken("other")
	now := time.Unix(1_800_000_000, 0)
	v := c.SessionValue(now.Add(time.Hour))
	tamper := []byte(v)
	tamper[len(tamper)-1] ^= 1
	for _, tc := range []struct {
		name string
		c    Config
		v    string
		at   time.Time
		ok   bool
	}{
		{"fresh", c, v, now, true},
		{"a second before it expires", c, v, now.Add(time.Hour - time.Second), true},
		{"expired", c, v, now.Add(time.Hour), false},
		{"another token's", other, v, now, false},
		{"auth off has no sessions", Config{}, v, now, false},
		{"tampered MAC", c, string(tamper), now, false},
		{"moved expiry", c, "9" + v, now, false},
		{"longer than a session lives", c, c.SessionValue(now.Add(SessionLifetime + time.Hour)), now, false},
		{"no dot", c, strings.ReplaceAll(v, ".", ""), now, false},
		{"not hex", c, v[:strings.IndexByte(v, '.')] + ".zz", now, false},
		{"empty", c, "", now, false},
		{"huge", c, strings.Repeat("1", 4096), now, false},
	} {
		if got := tc.c.ValidSession(tc.v, tc.at); got != tc.ok {
			t.Errorf("%s: valid=%v, want %v", tc.name, got, tc.ok)
		}
	}
	if c.SessionCookieName() == other.SessionCookieName() || !strings.HasPrefix(c.SessionCookieName(), "goray-session-") {
		t.Errorf("cookie names %q and %q: one per token wanted", c.SessionCookieName(), other.SessionCookieName())
	}
	if strings.Contains(v, "secret") || strings.Contains(c.SessionCookieName(), "secret") {
		t.Error("the cookie carries the token")
	}
}

// The dashboard's login: the page shell and the mode answer anyone, the
// token logs a browser in with an HttpOnly SameSite=Strict cookie that then
// opens the API, and nothing else does.
func TestLogin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "data") })
	policy := HTTPPolicy{Open: []string{"/healthz"}, Page: []string{"/", "/app.js"}, Login: true}
	c := NewToken("secret")
	h := c.Handler(ok, policy)
	do := func(method, path string, header map[string]string, cookies ...*http.Cookie) *httptest.ResponseRecorder {
		t.Helper()
		r := httptest.NewRequest(method, "http://127.0.0.1:8265"+path, nil)
		for k, v := range header {
			r.Header.Set(k, v)
		}
		for _, ck := range cookies {
			r.AddCookie(ck)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	browser := map[string]string{"User-Agent": "Mozilla/5.0", "Sec-Fetch-Site": "same-origin"}

	if w := do("GET", "/", browser); w.Code != 200 || w.Body.String() != "data" {
		t.Fatalf("page shell without a token: %d %q", w.Code, w.Body.String())
	}
	if w := do("POST", "/", nil); w.Code != 401 {
		t.Fatalf("POST to a page path without a token: %d", w.Code)
	}
	if w := do("GET", ModePath, browser); w.Code != 200 || !strings.Contains(w.Body.String(), `"token"`) {
		t.Fatalf("mode: %d %q", w.Code, w.Body.String())
	}
	if w := do("GET", "/api/jobs/", browser); w.Code != 401 {
		t.Fatalf("API without a token: %d", w.Code)
	}
	for name, hdr := range map[string]map[string]string{
		"no token":    {"Sec-Fetch-Site": "same-origin"},
		"wrong token": {"Sec-Fetch-Site": "same-origin", "Authorization": "Bearer nope"},
	} {
		if w := do("POST", LoginPath, hdr); w.Code != 401 || len(w.Result().Cookies()) != 0 {
			t.Fatalf("login with %s: %d, cookies %v", name, w.Code, w.Result().Cookies())
		}
	}
	if w := do("POST", LoginPath, map[string]string{"Authorization": "Bearer secret", "Origin": "https://evil.example"}); w.Code != 403 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("cross-site login: %d", w.Code)
	}

	w := do("POST", LoginPath, map[string]string{"Authorization": "Bearer secret", "Sec-Fetch-Site": "same-origin"})
	if w.Code != 200 || len(w.Result().Cookies()) != 1 {
		t.Fatalf("login: %d %q %v", w.Code, w.Body.String(), w.Result().Cookies())
	}
	set := w.Header().Get("Set-Cookie")
	for _, want := range []string{"HttpOnly", "SameSite=Strict", "Max-Age=604800"} {
		if !strings.Contains(set, want) {
			t.Errorf("Set-Cookie %q lacks %s", set, want)
		}
	}
	for _, not := range []string{"Path=", "Secure", "secret"} {
		if strings.Contains(set, not) {
			t.Errorf("Set-Cookie %q has %s", set, not)
		}
	}
	session := w.Result().Cookies()[0]
	if w := do("GET", "/api/jobs/", browser, session); w.Code != 200 || w.Body.String() != "data" {
		t.Fatalf("API with the session: %d %q", w.Code, w.Body.String())
	}
	if w := do("GET", "/api/jobs/", map[string]string{"Authorization": "Bearer nope"}, session); w.Code != 401 {
		t.Fatalf("a wrong header with a good session: %d", w.Code)
	}
	if w := do("POST", "/api/jobs/", map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}, session); w.Code != 403 {
		t.Fatalf("cross-site POST with the session: %d", w.Code)
	}
	// The session is this token's: another cluster, or this one with a new
	// token, does not take it, nor does a listener without the login.
	if w := do("GET", "/api/jobs/", browser, &http.Cookie{Name: NewToken("new").SessionCookieName(), Value: session.Value}); w.Code != 401 {
		t.Fatalf("the session under a new token: %d", w.Code)
	}
	noLogin := c.Handler(ok, HTTPPolicy{Open: []string{"/healthz"}})
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/metrics", nil)
	r.AddCookie(session)
	w = httptest.NewRecorder()
	noLogin.ServeHTTP(w, r)
	if w.Code != 401 {
		t.Fatalf("the session on a listener without the login: %d", w.Code)
	}
	r = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080"+LoginPath, nil)
	r.Header.Set("Authorization", "Bearer secret")
	w = httptest.NewRecorder()
	noLogin.ServeHTTP(w, r)
	if w.Body.String() != "data" || len(w.Result().Cookies()) != 0 {
		t.Fatalf("a listener without the login answered it: %d %v", w.Code, w.Result().Cookies())
	}

	// Logging out clears the cookie.
	w = do("DELETE", LoginPath, map[string]string{"Sec-Fetch-Site": "same-origin"}, session)
	if w.Code != 200 || len(w.Result().Cookies()) != 1 || w.Result().Cookies()[0].MaxAge >= 0 {
		t.Fatalf("logout: %d %v", w.Code, w.Result().Cookies())
	}
	if w := do("GET", LoginPath, nil); w.Code != http.StatusMethodNotAllowed {
		t.Fatalf("GET %s: %d", LoginPath, w.Code)
	}
}

func TestLoginSecureCookie(t *testing.T) {
	h := NewToken("secret").Handler(http.NotFoundHandler(), HTTPPolicy{Login: true})
	for name, prep := range map[string]func(r *http.Request){
		"TLS":              func(r *http.Request) { r.TLS = &tls.ConnectionState{} },
		"a proxy's HTTPS":  func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") },
		"plain HTTP (not)": func(r *http.Request) {},
	} {
		r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8265"+LoginPath, nil)
		r.Header.Set("Authorization", "Bearer secret")
		prep(r)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		secure := strings.Contains(w.Header().Get("Set-Cookie"), "Secure")
		if secure != (name != "plain HTTP (not)") {
			t.Errorf("%s: Set-Cookie %q", name, w.Header().Get("Set-Cookie"))
		}
	}
}

func TestLoginAuthOff(t *testing.T) {
	h := Config{}.Handler(http.NotFoundHandler(), HTTPPolicy{Login: true})
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8265"+ModePath, nil)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if !strings.Contains(w.Body.String(), `"disabled"`) {
		t.Fatalf("mode with auth off: %q", w.Body.String())
	}
	r = httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8265"+LoginPath, nil)
	w = httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 200 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("login with auth off: %d %v", w.Code, w.Result().Cookies())
	}
}
