package integration

import (
	"archive/zip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

// TestRemoteWorkingDir is KubeRay's samples' working_dir — a GitHub
// archive over https, one top-level directory holding the program — with
// the archive served from loopback: a zip whose top directory holds a Go
// binary (goray-examples) is fetched by a token-auth head, unpacked with
// the top directory stripped, and the binary runs there as a driver, with
// the download in the job's log; a second job takes the node's cached copy.
// A URI that answers 404 and one announcing more than the 500 MiB package
// limit fail the job with RUNTIME_ENV_SETUP_FAILED and the reason.
func TestRemoteWorkingDir(t *testing.T) {
	needProcesses(t)
	token := randomToken(t)
	c := startCluster(t, "127.0.0.187", "", token)
	archive := filepath.Join(t.TempDir(), "archive.zip")
	writeArchive(t, archive, "test_dag-78b4a5da", filepath.Join(binDir, "goray-examples"), "app")

	var archiveHits atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/ray-project/test_dag/archive/78b4a5da.zip", func(w http.ResponseWriter, r *http.Request) {
		archiveHits.Add(1)
		http.ServeFile(w, r, archive)
	})
	mux.HandleFunc("/huge.zip", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "629145600") // 600 MiB
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(make([]byte, 4096)) // the head hangs up before reading the rest
	})
	srv := httptest.NewServer(mux) // 127.0.0.1
	defer srv.Close()
	uri := srv.URL + "/ray-project/test_dag/archive/78b4a5da.zip"

	for i, id := range []string{"remote-wd", "remote-wd-cached"} {
		out, err := c.goray("job", "submit", "--address", c.url(), "--submission-id", id,
			"--runtime-env-yaml", "working_dir: "+uri+"\n", "--", "./app", "square")
		if err != nil || !strings.Contains(out, "[0 1 4 9]") || !strings.Contains(out, "Job '"+id+"' succeeded") {
			t.Fatalf("goray job submit %s: %v\n%s\nhead:\n%s", id, err, clip(out), clip(c.head.log()))
		}
		logs, err := c.goray("job", "logs", "--address", c.url(), id)
		want := "goray: working_dir: fetching " + uri
		if i == 1 {
			want = "goray: working_dir: using " + uri + ", fetched earlier on this node"
		}
		if err != nil || !strings.Contains(logs, want) || !strings.Contains(logs, "goray: working_dir: unpacked") {
			t.Errorf("goray job logs %s: %v, want %q in\n%s", id, err, want, clip(logs))
		}
	}
	if n := archiveHits.Load(); n != 1 {
		t.Errorf("the archive was fetched %d times, want once", n)
	}

	gc := &client.Client{BaseURL: c.url(), HTTP: &http.Client{Transport: rayHeader{token}, Timeout: deadline}}
	for _, tc := range []struct{ id, uri, want string }{
		{"remote-404", srv.URL + "/ray-project/test_dag/archive/missing.zip",
			"Failed to set up the runtime environment: working_dir: fetching " + srv.URL + "/ray-project/test_dag/archive/missing.zip: the server answered 404 Not Found"},
		{"remote-huge", srv.URL + "/huge.zip", "the zip is larger than the limit of 524288000 bytes (500.0 MiB) a working_dir package may be: the server announced 629145600 bytes"},
		{"remote-gs", "gs://bucket/app.zip", "goray cannot fetch gs:// URIs (Google Cloud Storage)"},
	} {
		if _, err := gc.Submit(context.Background(), api.SubmitRequest{Entrypoint: "./app square", SubmissionID: tc.id,
			RuntimeEnv: map[string]any{"working_dir": tc.uri}}); err != nil {
			t.Fatalf("submit %s: %v", tc.id, err)
		}
		d := waitEnded(t, gc, tc.id)
		if d.Status != api.StatusFailed || d.ErrorType == nil || *d.ErrorType != api.ErrTypeRuntimeEnvSetup || !strings.Contains(d.MessageText(), tc.want) {
			t.Errorf("%s: %s %v %q, want FAILED %s with %q", tc.id, d.Status, d.ErrorType, d.MessageText(), api.ErrTypeRuntimeEnvSetup, tc.want)
		}
	}
}

// writeArchive writes a zip like GitHub's archives: one top-level
// directory, here holding the executable exe as name.
func writeArchive(t *testing.T, path, top, exe, name string) {
	t.Helper()
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(out)
	if _, err := zw.Create(top + "/"); err != nil {
		t.Fatal(err)
	}
	h := &zip.FileHeader{Name: top + "/" + name, Method: zip.Store} // stored: deflating a race-built binary is slow
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := io.Copy(w, src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// waitEnded polls a job until it reaches a terminal status.
func waitEnded(t *testing.T, gc *client.Client, id string) *api.JobDetails {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		d, err := gc.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if d.Status.IsTerminal() {
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", id)
	return nil
}
