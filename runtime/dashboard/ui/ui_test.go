package ui

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestMountServesThePage(t *testing.T) {
	mux := http.NewServeMux()
	Mount(mux)
	for p, want := range map[string]string{"/": "text/html", "/app.js": "javascript", "/app.css": "text/css", "/favicon.svg": "image/svg+xml"} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, p, nil))
		if w.Code != 200 || !strings.Contains(w.Header().Get("Content-Type"), want) || w.Body.Len() == 0 {
			t.Errorf("GET %s: %d %q (%d bytes)", p, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
		for _, h := range []string{"Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options"} {
			if w.Header().Get(h) == "" {
				t.Errorf("GET %s: no %s", p, h)
			}
		}
	}
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/nothing-here", nil))
	if w.Code != http.StatusNotFound {
		t.Errorf("GET /nothing-here: %d (the shell answers / only)", w.Code)
	}
	if len(Paths()) != len(files) {
		t.Errorf("Paths: %v", Paths())
	}
}

// Behind `kubectl port-forward` the page is at /, behind a path-prefix
// proxy at /some/prefix/: it works at both only if no URL it uses starts
// at the root, and it must fetch nothing from elsewhere (no CDN).
func TestThePageUsesRelativeURLsOnly(t *testing.T) {
	rooted := []*regexp.Regexp{
		regexp.MustCompile(`(?:href|src|action)\s*=\s*["']/`),
		regexp.MustCompile(`fetch\(\s*["'\x60]/`),
		regexp.MustCompile(`getJSON\(\s*["'\x60]/`),
		regexp.MustCompile(`api\(\s*["'\x60]/`),
		regexp.MustCompile(`url\(\s*["']?/`),
		regexp.MustCompile(`location(?:\.href)?\s*=`),
	}
	remote := regexp.MustCompile(`(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(static, "static", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(static, p)
		for _, re := range rooted {
			if m := re.Find(b); m != nil {
				t.Errorf("%s: %q starts at the root or leaves the page", p, m)
			}
		}
		for _, m := range remote.FindAll(b, -1) {
			if !strings.HasSuffix(string(m), "//www.w3.org") { // SVG's XML namespace, never fetched
				t.Errorf("%s: refers to another site: %q", p, m)
			}
		}
		// Data goes into the page as text: no HTML parsing of strings.
		if strings.Contains(string(b), "innerHTML") || strings.Contains(string(b), "insertAdjacentHTML") || strings.Contains(string(b), "document.write") {
			t.Errorf("%s parses strings as HTML", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEveryEmbeddedFileIsServed(t *testing.T) {
	served := map[string]bool{}
	for _, f := range files {
		served[f] = true
	}
	entries, err := fs.ReadDir(static, "static")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !served[e.Name()] {
			t.Errorf("static/%s is embedded but not served", e.Name())
		}
	}
}

// Every page the navigation links to has a view in the script's routes.
func TestEveryNavigationLinkHasAView(t *testing.T) {
	index, err := fs.ReadFile(static, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	script, err := fs.ReadFile(static, "static/app.js")
	if err != nil {
		t.Fatal(err)
	}
	links := regexp.MustCompile(`href="#/([a-z-]+)"`).FindAllSubmatch(index, -1)
	if len(links) < 9 {
		t.Fatalf("the navigation has %d links", len(links))
	}
	for _, l := range links {
		if route := "[/^" + string(l[1]) + "$/, "; !strings.Contains(string(script), route) {
			t.Errorf("#/%s has no route %s in app.js", l[1], route)
		}
	}
}
