package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A browser cannot put the token in a header of every request it makes (a
// page's links, an EventSource, a WebSocket), so the dashboard page logs in
// once, as Ray's dashboard (≥ 2.52) does: the page POSTs the token in
// Authorization to LoginPath, and the answer sets an HttpOnly,
// SameSite=Strict cookie that the auth layer then takes in place of the
// header. Unlike Ray's, the cookie does not hold the token: it holds an
// expiry and an HMAC of it keyed by the token, so
//   - a script (HttpOnly) or another site (SameSite=Strict, and the
//     cross-origin checks of Handler) never gets at it or rides it,
//   - a copied cookie is worth SessionLifetime on the HTTP API, never the
//     token itself (gRPC, other listeners' headers, other clusters),
//   - a new token ends every session (the HMAC no longer matches).
//
// The cookie has no Path attribute: browsers scope it to the directory of
// the login URL, ".../api", so behind a path-prefix proxy it goes to this
// cluster's API only, not to other applications on the same host.
const (
	// LoginPath takes POST with "Authorization: Bearer <token>" (sets the
	// session cookie) and DELETE (clears it).
	LoginPath = "/api/authenticate"
	// ModePath answers {"authentication_mode": "token"|"disabled"} to
	// anyone, as Ray's dashboard does: the page asks it to know whether to
	// show its login form.
	ModePath = "/api/authentication_mode"
	// SessionLifetime is how long a browser stays logged in.
	SessionLifetime = 7 * 24 * time.Hour
)

// sessionPrefix starts the session cookie's name; the rest is derived from
// the token, so that the pages of two clusters forwarded to the same host
// (127.0.0.1:8265 and :8266 share cookies: cookies ignore ports) keep one
// session each instead of logging each other out.
const sessionPrefix = "goray-session-"

func (c Config) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, []byte(c.Token))
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// SessionCookieName is the name of c's session cookie.
func (c Config) SessionCookieName() string {
	return sessionPrefix + hex.EncodeToString(c.mac("goray dashboard session cookie name")[:6])
}

// SessionValue is a session cookie's value that expires at exp.
func (c Config) SessionValue(exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return e + "." + hex.EncodeToString(c.mac("goray dashboard session", e))
}

// ValidSession reports whether v is a session of c's token that has not
// expired at now. The MAC is compared in constant time.
func (c Config) ValidSession(v string, now time.Time) bool {
	if c.Token == "" || len(v) > 128 {
		return false
	}
	e, sig, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(e, 10, 64)
	if err != nil || now.Unix() >= exp || exp > now.Add(SessionLifetime+time.Minute).Unix() {
		return false
	}
	got, err := hex.DecodeString(sig)
	if err != nil {
		return false
	}
	return hmac.Equal(got, c.mac("goray dashboard session", e))
}

// sessionFrom reports whether r carries a valid session cookie of c.
func (c Config) sessionFrom(r *http.Request) bool {
	ck, err := r.Cookie(c.SessionCookieName())
	return err == nil && c.ValidSession(ck.Value, time.Now())
}

// login answers LoginPath.
func (c Config) login(w http.ResponseWriter, r *http.Request) {
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	cookie := func(value string, maxAge int) *http.Cookie {
		return &http.Cookie{Name: c.SessionCookieName(), Value: value, MaxAge: maxAge, HttpOnly: true, Secure: secure, SameSite: http.SameSiteStrictMode}
	}
	w.Header().Set("Cache-Control", "no-store")
	switch r.Method {
	case http.MethodDelete:
		if c.Token != "" {
			http.SetCookie(w, cookie("", -1))
		}
		writeLoginJSON(w, map[string]any{"authenticated": false})
	case http.MethodPost:
		if !c.Required {
			writeLoginJSON(w, map[string]any{"authenticated": true, "authentication_mode": ModeDisabled})
			return
		}
		v := r.Header.Get(HeaderAuthorization)
		if v == "" {
			v = r.Header.Get(HeaderRayAuthorization)
		}
		if v == "" {
			unauthorized(w, missingMsg)
			return
		}
		if tok, ok := bearer(v); !ok || !c.Valid(tok) {
			unauthorized(w, wrongMsg)
			return
		}
		exp := time.Now().Add(SessionLifetime)
		http.SetCookie(w, cookie(c.SessionValue(exp), int(SessionLifetime/time.Second)))
		writeLoginJSON(w, map[string]any{"authenticated": true, "authentication_mode": ModeToken, "expires": exp.Unix()})
	default:
		w.Header().Set("Allow", "POST, DELETE")
		http.Error(w, "use POST (log in with the token in Authorization) or DELETE (log out)", http.StatusMethodNotAllowed)
	}
}

// mode answers ModePath.
func (c Config) mode(w http.ResponseWriter) {
	m := ModeDisabled
	if c.Required {
		m = ModeToken
	}
	w.Header().Set("Cache-Control", "no-store")
	writeLoginJSON(w, map[string]string{"authentication_mode": m})
}

func writeLoginJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
