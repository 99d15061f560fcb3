package jobs

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

func TestRemoteZipURL(t *testing.T) {
	for _, tc := range []struct {
		uri        string
		remote     bool
		errHas     string // "": no error
		redactedAs string
	}{
		{uri: "gcs://_goray_pkg_abc.zip"},
		{uri: "./local/dir"},
		{uri: "https://github.com/ray-project/test_dag/archive/78b4a5da.zip", remote: true},
		{uri: "http://127.0.0.1:8000/a.zip", remote: true},
		{uri: "HTTPS://example.com/a.zip", remote: true},
		{uri: "s3://bucket/pkg.zip", remote: true, errHas: "goray cannot fetch s3:// URIs (Amazon S3)"},
		{uri: "gs://bucket/pkg.zip", remote: true, errHas: "goray cannot fetch gs:// URIs (Google Cloud Storage)"},
		{uri: "file:///tmp/pkg.zip", remote: true, errHas: "goray cannot fetch file://"},
		{uri: "ftp://example.com/a.zip", remote: true, errHas: `unsupported working_dir URI scheme "ftp"`},
		{uri: "https:///a.zip", remote: true, errHas: "has no host"},
		{uri: "https://example.com/a.tar.gz", remote: true, errHas: "is not a .zip"},
		{uri: "https://user:secret@example.com/a.tar.gz?X-Amz-Signature=s3cr3t", remote: true, errHas: "https://user@example.com/a.tar.gz?…"},
	} {
		t.Run(tc.uri, func(t *testing.T) {
			u, remote, err := remoteZipURL(tc.uri)
			if remote != tc.remote {
				t.Fatalf("remote=%v, want %v", remote, tc.remote)
			}
			if tc.errHas == "" {
				if err != nil {
					t.Fatal(err)
				}
				if remote && u == nil {
					t.Fatal("no URL")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tc.errHas)
			}
			if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("the error shows credentials: %v", err)
			}
		})
	}
}

func TestCheckRedirect(t *testing.T) {
	req := func(s string) *http.Request {
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Request{URL: u}
	}
	via := func(s ...string) []*http.Request {
		var out []*http.Request
		for _, x := range s {
			out = append(out, req(x))
		}
		return out
	}
	if err := checkRedirect(req("https://codeload.github.com/a.zip"), via("https://github.com/a.zip")); err != nil {
		t.Errorf("https to https: %v", err)
	}
	if err := checkRedirect(req("https://b/a.zip"), via("http://a/a.zip")); err != nil {
		t.Errorf("http to https: %v", err)
	}
	for _, tc := range []struct{ to, from, want string }{
		{"file:///etc/passwd", "https://a/a.zip", `redirect to the "file" scheme`},
		{"gopher://a/", "http://a/a.zip", `redirect to the "gopher" scheme`},
		{"http://a/a.zip", "https://a/a.zip", "from https to http"},
	} {
		if err := checkRedirect(req(tc.to), via(tc.from)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s -> %s: %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
	long := make([]string, maxRedirects)
	for i := range long {
		long[i] = "https://a/a.zip"
	}
	if err := checkRedirect(req("https://a/a.zip"), via(long...)); err == nil {
		t.Error("followed an 11th redirect")
	}
}

// zipWithTop is a zip like GitHub's archives: every file in one top-level directory.
func zipWithTop(t *testing.T, top string, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	if _, err := zw.Create(top + "/"); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		w, err := zw.Create(top + "/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(w, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testFetcher(maxBytes int64) *remoteFetcher {
	f := newRemoteFetcher()
	f.maxBytes = maxBytes
	return f
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestFetchRemote(t *testing.T) {
	stall := make(chan struct{})
	defer close(stall)
	mux := http.NewServeMux()
	mux.HandleFunc("/ok.zip", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("0123456789")) })
	mux.HandleFunc("/moved.zip", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok.zip", http.StatusFound) })
	mux.HandleFunc("/to-file.zip", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
	})
	mux.HandleFunc("/endless.zip", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the limit is found while reading.
		buf := make([]byte, 1024)
		for i := 0; i < 1024; i++ {
			if _, err := w.Write(buf); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/announced.zip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("/short.zip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte("only this"))
	})
	mux.HandleFunc("/stall.zip", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("start"))
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	for _, tc := range []struct {
		path    string
		max     int64
		timeout time.Duration
		want    string // the body; or, with errHas, nothing
		errHas  string
		atMost  int64 // bytes that may reach dst
	}{
		{path: "/ok.zip", max: 100, want: "0123456789"},
		{path: "/moved.zip", max: 100, want: "0123456789"},
		{path: "/missing.zip", max: 100, errHas: "the server answered 404 Not Found"},
		{path: "/to-file.zip", max: 100, errHas: `redirect to the "file" scheme`},
		{path: "/endless.zip", max: 64 << 10, errHas: "larger than the limit", atMost: 64<<10 + 1},
		{path: "/announced.zip", max: 1000, errHas: "the server announced 1000000 bytes"},
		{path: "/short.zip", max: 1000, errHas: "ended after 9 of 100 bytes"},
		{path: "/stall.zip", max: 1000, timeout: 300 * time.Millisecond, errHas: "did not finish within 300ms"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			f := testFetcher(tc.max)
			if tc.timeout > 0 {
				f.timeout = tc.timeout
			}
			var dst, progress bytes.Buffer
			_, err := f.fetch(context.Background(), mustURL(t, srv.URL+tc.path), &dst, &progress)
			if tc.errHas == "" {
				if err != nil || dst.String() != tc.want {
					t.Fatalf("got %q, %v", clipForTest(dst.String()), err)
				}
				if !strings.Contains(progress.String(), "downloaded 0.0 MiB in") {
					t.Errorf("progress: %q", progress.String())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errHas) {
				t.Fatalf("error %v, want one containing %q", err, tc.errHas)
			}
			if tc.atMost > 0 && int64(dst.Len()) > tc.atMost {
				t.Fatalf("%d bytes reached the file, at most %d may", dst.Len(), tc.atMost)
			}
		})
	}
}

// TestRemoteWorkingDirJob runs jobs whose working_dir is a zip served over
// http on loopback: the top-level directory is stripped, the download is in
// the job's log, a second job takes the node's cached copy, and failures are
// RUNTIME_ENV_SETUP_FAILED with the reason.
func TestRemoteWorkingDirJob(t *testing.T) {
	e := newTestEnv(t)
	archive := zipWithTop(t, "test_dag-78b4a5da", map[string]string{"hello.txt": "hello from the archive\n"})
	var hits atomic.Int32
	stall := make(chan struct{})
	defer close(stall)
	mux := http.NewServeMux()
	mux.HandleFunc("/archive/78b4a5da.zip", func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write(archive)
	})
	mux.HandleFunc("/stall.zip", func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		select {
		case <-stall:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/notzip.zip", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) })
	srv := httptest.NewServer(mux)
	defer srv.Close()
	uri := srv.URL + "/archive/78b4a5da.zip"

	for i := 0; i < 2; i++ {
		id := e.submit(t, api.SubmitRequest{Entrypoint: "cat hello.txt", RuntimeEnv: map[string]any{"working_dir": uri}})
		d := e.waitTerminal(t, id)
		if d.Status != api.StatusSucceeded {
			t.Fatalf("job %d: %s %s", i, d.Status, d.MessageText())
		}
		logs, _ := os.ReadFile(e.m.LogPath(id))
		want := []string{"goray: working_dir: fetching " + uri, "goray: working_dir: downloaded", "hello from the archive"}
		if i == 1 {
			want = []string{"fetched earlier on this node", "hello from the archive"}
		}
		for _, w := range want {
			if !strings.Contains(string(logs), w) {
				t.Errorf("job %d's log lacks %q:\n%s", i, w, logs)
			}
		}
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the archive was fetched %d times, want once (then from the cache)", n)
	}

	for _, tc := range []struct{ uri, want string }{
		{srv.URL + "/missing.zip", "Failed to set up the runtime environment: working_dir: fetching " + srv.URL + "/missing.zip: the server answered 404 Not Found"},
		{srv.URL + "/notzip.zip", "is not a zip file"},
		{"gs://bucket/pkg.zip", "goray cannot fetch gs:// URIs"},
	} {
		id := e.submit(t, api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"working_dir": tc.uri}})
		d := e.waitTerminal(t, id)
		if d.Status != api.StatusFailed || d.ErrorType == nil || *d.ErrorType != api.ErrTypeRuntimeEnvSetup || !strings.Contains(d.MessageText(), tc.want) {
			t.Errorf("%s: %s %v %q, want FAILED %s containing %q", tc.uri, d.Status, d.ErrorType, d.MessageText(), api.ErrTypeRuntimeEnvSetup, tc.want)
		}
	}
	// A zip that failed is not cached.
	entries, _ := filepath.Glob(filepath.Join(e.m.remote.dir, "*"))
	if len(entries) != 1 {
		t.Errorf("cache holds %v, want only the good archive", entries)
	}

	// Stopping a job while its working_dir downloads stops it.
	id := e.submit(t, api.SubmitRequest{Entrypoint: "true", RuntimeEnv: map[string]any{"working_dir": srv.URL + "/stall.zip"}})
	waitLog(t, e.m.LogPath(id), "fetching")
	if ok, err := e.m.Stop(context.Background(), id); err != nil || !ok {
		t.Fatalf("stop: %v %v", ok, err)
	}
	if d := e.waitTerminal(t, id); d.Status != api.StatusStopped {
		t.Fatalf("stopped during the download: %s %s", d.Status, d.MessageText())
	}
}

func waitLog(t *testing.T, path, want string) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for time.Now().Before(end) {
		if b, _ := os.ReadFile(path); strings.Contains(string(b), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s never held %q", path, want)
}
