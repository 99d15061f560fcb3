package jobs

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

func TestZipDirIsDeterministicAndUnzips(t *testing.T) {
	src := t.TempDir()
	_ = os.MkdirAll(filepath.Join(src, "a", "b"), 0o755)
	_ = os.MkdirAll(filepath.Join(src, ".git"), 0o755)
	_ = os.WriteFile(filepath.Join(src, "a", "b", "c.txt"), []byte("deep"), 0o644)
	_ = os.WriteFile(filepath.Join(src, "run.sh"), []byte("echo hi"), 0o755)
	_ = os.WriteFile(filepath.Join(src, ".git", "HEAD"), []byte("ref"), 0o644)
	var z1, z2 bytes.Buffer
	if _, err := client.WriteZip(src, &z1); err != nil {
		t.Fatal(err)
	}
	_ = os.Chtimes(filepath.Join(src, "run.sh"), time.Unix(1, 0), time.Unix(1, 0))
	_, _ = client.WriteZip(src, &z2)
	if z1.String() != z2.String() {
		t.Error("the same tree zipped to different bytes")
	}
	zp := filepath.Join(t.TempDir(), "p.zip")
	_ = os.WriteFile(zp, z1.Bytes(), 0o644)
	dst := t.TempDir()
	if err := unzip(zp, dst, false); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dst, "a", "b", "c.txt")); string(b) != "deep" {
		t.Errorf("c.txt = %q", b)
	}
	if st, err := os.Stat(filepath.Join(dst, "run.sh")); err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Errorf("run.sh lost its exec bit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dst, ".git")); err == nil {
		t.Error(".git was packaged")
	}
}

func TestUnzipRejectsEscapes(t *testing.T) {
	zp := filepath.Join(t.TempDir(), "evil.zip")
	f, _ := os.Create(zp)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("../escape.txt")
	_, _ = w.Write([]byte("x"))
	_ = zw.Close()
	_ = f.Close()
	if err := unzip(zp, t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "leaves the working dir") {
		t.Errorf("unzip of ../escape.txt: %v", err)
	}
}

func TestPackageNames(t *testing.T) {
	h := strings.Repeat("0f", 32)
	if got, err := parsePackageURI(api.PackageURI(h)); err != nil || got != h {
		t.Errorf("parse %s: %q %v", api.PackageURI(h), got, err)
	}
	for _, bad := range []string{"/local/dir", "s3://bucket/x.zip", "gcs://_goray_pkg_zz.zip", "gcs://other_" + h + ".zip"} {
		if _, err := parsePackageURI(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestNormalize(t *testing.T) {
	r := api.SubmitRequest{Entrypoint: "true", JobID: "old-style"}
	if err := r.Normalize(); err != nil || r.SubmissionID != "old-style" {
		t.Errorf("job_id alias: %v %q", err, r.SubmissionID)
	}
	for _, bad := range []api.SubmitRequest{
		{Entrypoint: "  "},
		{Entrypoint: "true", SubmissionID: "a/b"},
		{Entrypoint: "true", SubmissionID: "a", JobID: "b"},
		{Entrypoint: "true", RuntimeEnv: map[string]any{"working_dir": 3.0}},
		{Entrypoint: "true", EntrypointResources: map[string]float64{"TPU": -1}},
	} {
		if err := bad.Normalize(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if m := api.PendingMessage(true, false); m != "Job has not started yet. It may be waiting for resources (CPUs, GPUs, memory, custom resources) to become available." {
		t.Errorf("pending message %q", m)
	}
}
