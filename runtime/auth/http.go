package auth

import (
	"net"
	"net/http"
	"os"
	"strings"
)

// Headers a token comes in: the standard one, and KubeRay's (its dashboard
// client and proxies that keep Authorization for themselves).
const (
	HeaderAuthorization    = "Authorization"
	HeaderRayAuthorization = "X-Ray-Authorization"
)

// EnvAllowedHosts lists host names (comma-separated; "*" for any) that a
// request without a valid token may name in its Host header besides IP
// addresses, localhost, this machine's name, single-label names and
// Kubernetes service names.
const EnvAllowedHosts = "GORAY_ALLOWED_HOSTS"

// HTTPPolicy is what a runtime HTTP server lets through without a token.
type HTTPPolicy struct {
	// Open are paths anyone may GET: health probes.
	Open []string
	// AllowedHosts extends the Host names accepted (see EnvAllowedHosts).
	AllowedHosts []string
	// Page are paths anyone may GET from any Host: a web page's shell and
	// assets, which hold no cluster data (the page asks the API for that).
	Page []string
	// Login serves LoginPath and ModePath and takes the session cookie
	// they set in place of the token (see login.go): on for the
	// dashboard, whose page runs in a browser.
	Login bool
}

// Handler guards next:
//   - Open paths (GET/HEAD) pass as they are: kubelet probes carry no token.
//     So do Page paths: a page's shell, which asks for the token.
//   - Cross-site state-changing browser requests are refused (Sec-Fetch-Site
//     and Origin, net/http's CrossOriginProtection), token or not.
//   - With a token required, every other request needs it in Authorization
//     or x-ray-authorization ("Bearer <token>"), or with Login a session
//     cookie from LoginPath; a missing or wrong one is a 401 that says how
//     to pass it.
//   - A browser's request without a valid token must name this server in
//     Host (an IP, localhost, a cluster-internal name or an allowed host): a
//     page on evil.example whose name was rebound to 127.0.0.1 names
//     evil.example. Other clients (the operator, curl, the SDK) may use any
//     name: DNS rebinding is an attack through a browser.
func (c Config) Handler(next http.Handler, p HTTPPolicy) http.Handler {
	open := map[string]bool{}
	for _, o := range append(append([]string(nil), p.Open...), p.Page...) {
		open[o] = true
	}
	hosts := hostSet(p.AllowedHosts)
	cop := http.NewCrossOriginProtection()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if open[r.URL.Path] && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			next.ServeHTTP(w, r)
			return
		}
		if err := cop.Check(r); err != nil {
			http.Error(w, "goray: cross-site browser request refused ("+err.Error()+
				"): state-changing requests must come from the same origin or from a non-browser client", http.StatusForbidden)
			return
		}
		if p.Login {
			switch r.URL.Path {
			case LoginPath:
				c.login(w, r)
				return
			case ModePath:
				if r.Method == http.MethodGet || r.Method == http.MethodHead {
					c.mode(w)
					return
				}
			}
		}
		authed := false
		if c.Required {
			v := r.Header.Get(HeaderAuthorization)
			if v == "" {
				v = r.Header.Get(HeaderRayAuthorization)
			}
			// A session cookie counts only without a header: a wrong
			// token in a header is refused, whatever the cookie.
			if v == "" && p.Login && c.sessionFrom(r) {
				next.ServeHTTP(w, r)
				return
			}
			if v == "" {
				unauthorized(w, missingMsg)
				return
			}
			tok, ok := bearer(v)
			if !ok || !c.Valid(tok) {
				unauthorized(w, wrongMsg)
				return
			}
			authed = true
		}
		if !authed && fromBrowser(r) && !hosts.allows(r.Host) {
			http.Error(w, "goray: Host "+quoteTrunc(r.Host)+" is not a name of this server; add it to "+EnvAllowedHosts+
				" (or turn on token auth)", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// fromBrowser reports whether r carries what browsers add to every request
// (Fetch metadata since 2020–2023, Origin, a Mozilla/ User-Agent).
func fromBrowser(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Site") != "" || r.Header.Get("Sec-Fetch-Mode") != "" || r.Header.Get("Origin") != "" ||
		strings.HasPrefix(r.UserAgent(), "Mozilla/")
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="goray"`)
	http.Error(w, msg, http.StatusUnauthorized)
}

type hostPolicy struct {
	any   bool
	names map[string]bool
}

func hostSet(extra []string) hostPolicy {
	h := hostPolicy{names: map[string]bool{"localhost": true}}
	if n, err := os.Hostname(); err == nil && n != "" {
		h.names[strings.ToLower(n)] = true
	}
	for _, e := range append(extra, strings.Split(os.Getenv(EnvAllowedHosts), ",")...) {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "*" {
			h.any = true
		}
		if e != "" {
			h.names[e] = true
		}
	}
	return h
}

func (h hostPolicy) allows(hostport string) bool {
	if h.any {
		return true
	}
	host := hostport
	if hh, _, err := net.SplitHostPort(hostport); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.ToLower(strings.Trim(host, "[]")), ".")
	switch {
	case host == "":
		return true // HTTP/1.0 without Host: no browser sends that
	case net.ParseIP(host) != nil, h.names[host]:
		return true
	case !strings.Contains(host, "."): // a single-label name: a Kubernetes short service name
		return true
	case strings.HasSuffix(host, ".localhost"), strings.HasSuffix(host, ".svc"), strings.HasSuffix(host, ".cluster.local"):
		return true
	}
	return false
}

func quoteTrunc(s string) string {
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return "\"" + s + "\""
}

// Transport sends c's token on every request through base (nil:
// http.DefaultTransport) and, with TLS, trusts the cluster's CA.
func (c Config) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		if c.TLS != nil {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.TLSClientConfig = c.TLS.ClientConfig()
			base = t
		} else {
			base = http.DefaultTransport
		}
	}
	if c.Token == "" {
		return base
	}
	return tokenTransport{base: base, value: "Bearer " + c.Token}
}

type tokenTransport struct {
	base  http.RoundTripper
	value string
}

func (t tokenTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get(HeaderAuthorization) != "" || r.Header.Get(HeaderRayAuthorization) != "" {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set(HeaderAuthorization, t.value)
	return t.base.RoundTrip(r)
}
