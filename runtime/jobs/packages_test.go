package jobs

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

func putPackage(e *testEnv, name string, body []byte, contentLength int64) (int, string) {
	req := httptest.NewRequest(http.MethodPut, "/api/packages/gcs/"+name, bytes.NewReader(body))
	req.ContentLength = contentLength
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

func packageName(b []byte) string {
	sum := sha256.Sum256(b)
	return api.PackagePrefix + hex.EncodeToString(sum[:]) + ".zip"
}

// TestPackageLargerThanAGRPCMessage uploads a package of several gRPC
// messages' worth and runs a job in it, through a GCS client with gRPC's
// default 4 MiB limit (the GCS's chunks once failed it: "received message
// larger than max (4194375 vs. 4194304)").
func TestPackageLargerThanAGRPCMessage(t *testing.T) {
	e := newTestEnv(t)
	src := t.TempDir()
	blob := make([]byte, 9<<20) // incompressible: the zip is as large
	if _, err := rand.Read(blob); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "blob"), blob, 0o644); err != nil {
		t.Fatal(err)
	}
	var zipped bytes.Buffer
	if _, err := client.WriteZip(src, &zipped); err != nil {
		t.Fatal(err)
	}
	name := packageName(zipped.Bytes())
	if code, body := putPackage(e, name, zipped.Bytes(), int64(zipped.Len())); code != http.StatusOK {
		t.Fatalf("PUT: %d %s", code, body)
	}
	if code, _ := e.do(t, http.MethodGet, "/api/packages/gcs/"+name, ""); code != http.StatusOK {
		t.Fatalf("GET after PUT: %d", code)
	}
	id := e.submit(t, api.SubmitRequest{Entrypoint: "sha256sum blob", RuntimeEnv: map[string]any{"working_dir": "gcs://" + name}})
	d := e.waitTerminal(t, id)
	sum := sha256.Sum256(blob)
	logs, _ := os.ReadFile(e.m.LogPath(id))
	if d.Status != api.StatusSucceeded || !strings.HasPrefix(string(logs), hex.EncodeToString(sum[:])+"  blob") {
		t.Fatalf("job in the package: %s %q, logs %q", d.Status, d.MessageText(), logs)
	}
}

func TestPackageUploadRefusals(t *testing.T) {
	e := newTestEnv(t)
	var zipped bytes.Buffer
	src := t.TempDir()
	_ = os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
	if _, err := client.WriteZip(src, &zipped); err != nil {
		t.Fatal(err)
	}
	good := packageName(zipped.Bytes())
	// Announced larger than the limit: refused before a byte is read.
	if code, body := putPackage(e, good, zipped.Bytes(), MaxPackageSize+1); code != http.StatusRequestEntityTooLarge ||
		!strings.Contains(body, "larger than 524288000 bytes") {
		t.Errorf("Content-Length over the limit: %d %q", code, body)
	}
	// Content that is not what the name says.
	if code, body := putPackage(e, packageName([]byte("other")), zipped.Bytes(), int64(zipped.Len())); code != http.StatusBadRequest ||
		!strings.Contains(body, "hashes to") {
		t.Errorf("wrong hash: %d %q", code, body)
	}
	// Not a zip.
	notZip := []byte("just text")
	if code, body := putPackage(e, packageName(notZip), notZip, int64(len(notZip))); code != http.StatusBadRequest ||
		!strings.Contains(body, "not a zip") {
		t.Errorf("not a zip: %d %q", code, body)
	}
	for _, n := range []string{packageName([]byte("other")), packageName(notZip)} {
		if code, _ := e.do(t, http.MethodGet, "/api/packages/gcs/"+n, ""); code != http.StatusNotFound {
			t.Errorf("a refused package is stored: GET %d", code)
		}
	}
	// Nothing is left behind in the temporary directory.
	left, _ := filepath.Glob(filepath.Join(e.m.packageTmp(), "upload-*"))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestPackageUploadStreams sends a 96 MiB package through the upload
// handler into the GCS and samples the heap meanwhile: it holds chunks, not
// the package (an upload read whole took the package's size at once).
func TestPackageUploadStreams(t *testing.T) {
	e := newTestEnv(t)
	src := t.TempDir()
	blob, err := os.Create(filepath.Join(src, "blob"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(blob, rand.Reader, 96<<20); err != nil {
		t.Fatal(err)
	}
	_ = blob.Close()
	zp := filepath.Join(t.TempDir(), "p.zip")
	zf, err := os.Create(zp)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	size, err := client.WriteZip(src, io.MultiWriter(zf, h))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zf.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	defer zf.Close()
	name := api.PackagePrefix + hex.EncodeToString(h.Sum(nil)) + ".zip"

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapInuse, ms.HeapInuse
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
		}
	}()
	req := httptest.NewRequest(http.MethodPut, "/api/packages/gcs/"+name, zf)
	req.ContentLength = size
	rec := httptest.NewRecorder()
	e.mux.ServeHTTP(rec, req)
	close(stop)
	<-sampled
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body.String())
	}
	if code, _ := e.do(t, http.MethodGet, "/api/packages/gcs/"+name, ""); code != http.StatusOK {
		t.Fatalf("GET after PUT: %d", code)
	}
	t.Logf("heap in use grew by %d MiB taking a %d MiB package", (peak-base)>>20, size>>20)
	if peak-base > 40<<20 {
		t.Errorf("heap in use grew by %d MiB taking a %d MiB package: it was held, not streamed", (peak-base)>>20, size>>20)
	}
}
