package controller

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// These tests run a Controller without a cluster (a GCS on loopback keeps
// its checkpoint and routing table): its reconcile loop never
// ticks, and the binary the configs name is registered by hand (as a job
// with the "hello" application), so Apply plans and applies without
// starting a process.

type testController struct {
	c   *Controller
	dir string // the serve binary directory
	bin string // an executable in it, registered as a job
}

func newTestController(t *testing.T, codeOpts schema.DeploymentSchema) *testController {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "app")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := New(Config{DefaultBinary: bin, Tick: time.Hour, GCS: testGCS(t)})
	t.Cleanup(func() {
		c.cancel()
		<-c.done
	})
	if codeOpts.Name == "" {
		codeOpts.Name = "D"
	}
	hash, err := hashFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	c.jobs[hash] = &job{path: bin, hash: hash, catalog: &wire.Catalog{Apps: map[string]wire.AppInfo{
		"hello": {Ingress: codeOpts.Name, Deployments: []schema.DeploymentSchema{codeOpts}}}}}
	return &testController{c: c, dir: dir, bin: bin}
}

// config is a deploy config of n "hello" applications with extra fields.
func config(n int, extra string) string {
	var apps []string
	for i := range n {
		apps = append(apps, fmt.Sprintf(`{"name":"a%d","route_prefix":"/a%d","import_path":"hello"%s}`, i, i, extra))
	}
	return `{"applications":[` + strings.Join(apps, ",") + `]}`
}

func (tc *testController) apply(t *testing.T, cfg string) error {
	t.Helper()
	s, err := schema.Decode([]byte(cfg))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return tc.c.Apply(ctx, s)
}

// runtime_env.binary names an executable in the head's serve binary
// directories, nothing else: an absolute path elsewhere, a path with "..",
// a relative path or a name found only on PATH is a 400 naming the field,
// and no application changes.
func TestBinaryMustBeInTheServeBinaryDirectories(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	if err := tc.apply(t, config(1, `,"runtime_env":{"binary":"app"}`)); err != nil {
		t.Errorf("the binary by name in the serve directory: %.200v", err)
	}
	if err := tc.apply(t, config(1, `,"runtime_env":{"binary":"`+tc.bin+`"}`)); err != nil {
		t.Errorf("the binary by its path in the serve directory: %.200v", err)
	}
	_ = os.WriteFile(filepath.Join(tc.dir, "data.txt"), []byte("not a program"), 0o644)
	_ = os.Mkdir(filepath.Join(tc.dir, "sub"), 0o755)
	_ = os.WriteFile(filepath.Join(tc.dir, "sub", "app"), []byte("#!/bin/sh\n"), 0o755)
	for _, b := range []string{
		"/bin/true", "/etc/passwd", "../../bin/ls", "true", "ls", "sub/app", tc.dir + "/sub/app", tc.dir + "/../" + filepath.Base(tc.dir) + "/app",
		"data.txt", tc.dir, "nonexistent", "/nonexistent/app",
	} {
		err := tc.apply(t, config(1, `,"runtime_env":{"binary":"`+b+`"}`))
		if err == nil || !IsBadConfig(err) || !strings.Contains(err.Error(), "runtime_env.binary") {
			t.Errorf("binary %q: %.300v, want a bad config naming runtime_env.binary", b, err)
		}
	}
	if n := len(tc.c.apps); n != 1 {
		t.Errorf("%d applications after the refused configs, want the 1 applied", n)
	}
}

// A bad binary is refused without waiting for the apply lock: no PUT holds
// the lock while a bad file is checked or hashed.
func TestBadBinaryIsRefusedWithoutTheApplyLock(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	tc.c.applyMu.Lock() // an apply in progress
	defer tc.c.applyMu.Unlock()
	done := make(chan error, 1)
	go func() { done <- tc.apply(t, config(1, `,"runtime_env":{"binary":"/etc/passwd"}`)) }()
	select {
	case err := <-done:
		if !IsBadConfig(err) {
			t.Errorf("/etc/passwd: %v, want a bad config", err)
		}
	case <-time.After(30 * time.Second): // a deadlock guard, far beyond any answer
		t.Fatal("the refusal waited for the apply lock")
	}
}

// Every application names the same binary: it is hashed once per PUT, and
// not again by the next PUT while the file is unchanged.
func TestBinaryHashedOncePerPut(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	calls := 0
	orig := hashFile
	hashFile = func(p string) (string, error) { calls++; return orig(p) }
	defer func() { hashFile = orig }()
	if err := tc.apply(t, config(50, `,"runtime_env":{"binary":"`+tc.bin+`"}`)); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("50 applications of one binary hashed it %d times, want 1", calls)
	}
	if err := tc.apply(t, config(60, "")); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Errorf("a second PUT of the unchanged binary hashed it again (%d hashes)", calls)
	}
	if n := len(tc.c.apps); n != 60 {
		t.Errorf("%d applications, want 60", n)
	}
}

// The per-cluster replica cap counts the code's options too: five
// applications whose code asks for 1,000 replicas each are refused.
func TestReplicaCapCountsTheCodesOptions(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{NumReplicas: &schema.NumReplicas{N: 1000}})
	if err := tc.apply(t, config(4, "")); err != nil {
		t.Fatalf("4,000 replicas: %v", err)
	}
	err := tc.apply(t, config(5, ""))
	if !IsBadConfig(err) || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("5,000 replicas: %v, want a bad config naming the 4096 limit", err)
	}
	if n := len(tc.c.apps); n != 4 {
		t.Errorf("%d applications after the refusal, want the 4 applied", n)
	}
	big := newTestController(t, schema.DeploymentSchema{NumReplicas: &schema.NumReplicas{N: 5000}})
	if err := big.apply(t, config(1, "")); !IsBadConfig(err) || !strings.Contains(err.Error(), "1000") {
		t.Errorf("code asking 5,000 replicas of one deployment: %v, want a bad config naming the 1000 limit", err)
	}
}

// PUT bodies: over the limit 413, a user_config over its limit 400 naming it.
func TestPutLimits(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	mux := http.NewServeMux()
	tc.c.Register(mux)
	put := func(body io.Reader) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodPut, "/api/serve/applications/", body))
		return rec.Code, rec.Body.String()
	}
	big := io.MultiReader(strings.NewReader(`{"applications":[{"name":"a","import_path":"hello","args":{"x":"`),
		io.LimitReader(zeros{}, 20<<20), strings.NewReader(`"}}]}`))
	if code, body := put(big); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "16777216") {
		t.Errorf("20 MB body: %d %.200q, want 413 naming the 16777216-byte limit", code, body)
	}
	cfg := config(1, `,"deployments":[{"name":"D","user_config":{"k":"`+strings.Repeat("u", 6<<20)+`"}}]`)
	if code, body := put(strings.NewReader(cfg)); code != http.StatusBadRequest || !strings.Contains(body, "user_config") ||
		!strings.Contains(body, "1048576") || len(body) > 4096 {
		t.Errorf("6 MB user_config: %d %.300q, want a short 400 naming user_config and 1048576", code, body)
	}
	if code, body := put(strings.NewReader(config(1, ""))); code != http.StatusOK {
		t.Errorf("a good config after the refusals: %d %q", code, body)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}
