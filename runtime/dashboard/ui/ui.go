// Package ui is the dashboard's web page at :8265/: one HTML shell, a
// stylesheet and a script, hand-written (no build step, no framework) and
// embedded in the binary, so `go build` alone gives the page and it fetches
// nothing from anywhere but the head's own API.
//
// The page is made to work behind `kubectl port-forward` and a path-prefix
// proxy: every URL it uses is relative (api/..., app.js, #/jobs), routing is
// by the URL's fragment, and the server never redirects. The shell holds no
// cluster data, so the auth layer lets anyone load it (auth.HTTPPolicy.Page);
// everything it shows comes from the API, behind the token or the session
// cookie of its login form (auth.LoginPath).
package ui

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
)

//go:embed static
var static embed.FS

// files maps each URL path the page is served at to its file in static.
var files = map[string]string{
	"/":            "index.html",
	"/app.js":      "app.js",
	"/app.css":     "app.css",
	"/favicon.svg": "favicon.svg",
}

// Paths are the page's URL paths: the shell and its assets.
func Paths() []string {
	out := make([]string, 0, len(files))
	for p := range files {
		out = append(out, p)
	}
	return out
}

// contentSecurityPolicy lets the page run only its own script and style and
// talk only to its own origin: data shown in it (a job's entrypoint, a
// task's error, a log line) can never run as code, and no other site may
// frame it (clickjacking a Stop button).
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"

// Mount serves the page's files on mux (GET and HEAD).
func Mount(mux *http.ServeMux) {
	for p, name := range files {
		pattern := "GET " + p
		if p == "/" {
			pattern = "GET /{$}" // the shell at / only: other paths stay 404s
		}
		mux.Handle(pattern, file(name))
	}
}

func file(name string) http.Handler {
	b, err := fs.ReadFile(static, path.Join("static", name))
	if err != nil {
		panic("ui: the embedded " + name + " is missing: " + err.Error())
	}
	ctype := mime.TypeByExtension(path.Ext(name))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", ctype)
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		// Revalidate each time: the page changes with the binary, and the
		// files are small.
		h.Set("Cache-Control", "no-cache")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(b)
	})
}
