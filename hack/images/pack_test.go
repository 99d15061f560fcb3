package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildPause compiles ./pause as a static binary into dir.
func buildPause(t *testing.T, dir string) string {
	t.Helper()
	out := filepath.Join(dir, "pause")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", out, "./pause")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./pause: %v\n%s", err, b)
	}
	return out
}

// layerFiles reads every layer of the tarball image and returns path -> header and content.
func readImage(t *testing.T, file, tag string) (map[string]*tar.Header, map[string][]byte, []string, []string, string, string) {
	t.Helper()
	ref, err := name.NewTag(tag)
	if err != nil {
		t.Fatal(err)
	}
	img, err := tarball.ImageFromPath(file, &ref)
	if err != nil {
		t.Fatalf("reading %s as %s: %v", file, tag, err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(tr)
			hdrs[h.Name], data[h.Name] = h, b
		}
		_ = rc.Close()
	}
	return hdrs, data, cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User, cf.OS + "/" + cf.Architecture
}

func TestPackPauseImage(t *testing.T) {
	dir := t.TempDir()
	bin := buildPause(t, dir)
	extra := filepath.Join(dir, "extra")
	if err := os.MkdirAll(filepath.Join(extra, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(extra, "sub", "hello.txt"), []byte("hi"), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(dir, "img.tar")
	spec := Spec{
		Tag:        "goray/pause:test",
		Files:      []Mapping{{Src: bin, Dest: "/usr/local/bin/pause"}, {Src: extra, Dest: "/opt/extra"}},
		Links:      []Link{{Path: "/bin/sh", Target: "/usr/local/bin/pause"}},
		Entrypoint: []string{"/usr/local/bin/pause"},
		Cmd:        []string{"--help"},
	}
	if err := WriteTarball(out, spec); err != nil {
		t.Fatal(err)
	}

	hdrs, data, ep, cmd, user, platform := readImage(t, out, spec.Tag)
	if !slices.Equal(ep, spec.Entrypoint) || !slices.Equal(cmd, spec.Cmd) {
		t.Errorf("entrypoint %q cmd %q, want %q %q", ep, cmd, spec.Entrypoint, spec.Cmd)
	}
	if user != "65532:65532" {
		t.Errorf("user %q, want 65532:65532", user)
	}
	if platform != "linux/amd64" && platform != "linux/arm64" {
		t.Errorf("platform %q", platform)
	}
	h := hdrs["usr/local/bin/pause"]
	if h == nil {
		t.Fatalf("no usr/local/bin/pause in the layers; have %v", keys(hdrs))
	}
	if h.Mode&0o111 == 0 {
		t.Errorf("pause mode %o is not executable", h.Mode)
	}
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(data["usr/local/bin/pause"], want) {
		t.Errorf("packed pause differs from the built binary")
	}
	if l := hdrs["bin/sh"]; l == nil || l.Typeflag != tar.TypeSymlink || l.Linkname != "/usr/local/bin/pause" {
		t.Errorf("bin/sh: want a symlink to /usr/local/bin/pause, got %+v", l)
	}
	if hdrs["bin/"] == nil {
		t.Errorf("no bin/ folder for the link")
	}
	if string(data["opt/extra/sub/hello.txt"]) != "hi" {
		t.Errorf("folder contents not packed: %v", keys(hdrs))
	}
	for _, p := range []string{"etc/passwd", "etc/group", "tmp/", "usr/", "usr/local/", "usr/local/bin/"} {
		if hdrs[p] == nil {
			t.Errorf("missing %s", p)
		}
	}
	if !bytes.Contains(data["etc/passwd"], []byte(":65532:65532:")) {
		t.Errorf("/etc/passwd has no user 65532")
	}
	if hdrs["tmp/"] != nil && hdrs["tmp/"].Mode != 0o1777 {
		t.Errorf("/tmp mode %o", hdrs["tmp/"].Mode)
	}

	// The entrypoint starts: run the extracted binary the way the runtime
	// would (entrypoint + cmd), then as the pause container (no args, stop on SIGTERM).
	extracted := filepath.Join(dir, "extracted-pause")
	if err := os.WriteFile(extracted, data["usr/local/bin/pause"], 0o755); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(extracted, cmd...).CombinedOutput(); err != nil || !bytes.Contains(b, []byte("pause")) {
		t.Errorf("%s %v: %v %s", extracted, cmd, err, b)
	}
	p := exec.Command(extracted)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		t.Fatalf("pause exited before it was signalled: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	p.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("pause after SIGTERM: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		p.Process.Kill()
		t.Fatal("pause did not stop on SIGTERM")
	}

	// Same inputs, same image: the layer is reproducible.
	out2 := filepath.Join(dir, "img2.tar")
	if err := WriteTarball(out2, spec); err != nil {
		t.Fatal(err)
	}
	d1, d2 := digest(t, out, spec.Tag), digest(t, out2, spec.Tag)
	if d1 != d2 {
		t.Errorf("image digest changed between two packs: %s vs %s", d1, d2)
	}
}

func TestLinkOverFileRejected(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "f")
	if err := os.WriteFile(f, []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Layer([]Mapping{{Src: f, Dest: "/bin/sh"}}, Link{Path: "/bin/sh", Target: "/bin/busybox"}); err == nil {
		t.Error("a link over a packed file was accepted")
	}
	if _, err := Layer(nil, Link{Path: "bin/sh", Target: "/bin/busybox"}); err == nil {
		t.Error("a relative link path was accepted")
	}
}

func digest(t *testing.T, file, tag string) string {
	ref, _ := name.NewTag(tag)
	img, err := tarball.ImageFromPath(file, &ref)
	if err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func keys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// TestSharedLibs packs a dynamically linked program of this machine with
// the libraries ldd resolves for it, then runs the packed copy with the
// packed loader and only the packed libraries: what the image needs is all
// there. A static binary needs nothing.
func TestSharedLibs(t *testing.T) {
	if _, err := exec.LookPath("ldd"); err != nil {
		t.Skip("no ldd on this machine")
	}
	prog, err := exec.LookPath("sort")
	if err != nil {
		t.Skip("no sort program on this machine")
	}
	if dyn, err := isDynamicELF(prog); err != nil || !dyn {
		t.Skipf("%s is not dynamically linked (%v)", prog, err)
	}
	dir := t.TempDir()
	files := []Mapping{{Src: prog, Dest: "/usr/bin/sort"}}
	libs, err := SharedLibs(files)
	if err != nil {
		t.Fatal(err)
	}
	var loader string
	libDirs := map[string]bool{}
	for _, l := range libs {
		if l.Src != l.Dest || !filepath.IsAbs(l.Dest) {
			t.Errorf("library %+v: want it at the path the loader resolved", l)
		}
		if strings.Contains(filepath.Base(l.Dest), "ld-linux") {
			loader = l.Dest
		} else {
			libDirs[filepath.Dir(l.Dest)] = true
		}
	}
	if loader == "" || !slices.ContainsFunc(libs, func(m Mapping) bool { return strings.HasPrefix(filepath.Base(m.Dest), "libc.so") }) {
		t.Fatalf("libraries of %s lack the loader or libc: %+v", prog, libs)
	}
	out := filepath.Join(dir, "img.tar")
	if err := WriteTarball(out, Spec{Tag: "goray/libs:test", Files: append(files, libs...)}); err != nil {
		t.Fatal(err)
	}
	_, data, _, _, _, _ := readImage(t, out, "goray/libs:test")
	root := filepath.Join(dir, "root")
	for name, b := range data {
		if strings.HasSuffix(name, "/") {
			continue
		}
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var search []string
	for d := range libDirs {
		search = append(search, filepath.Join(root, d))
	}
	cmd := exec.Command(filepath.Join(root, loader), "--inhibit-cache", "--library-path", strings.Join(search, ":"),
		filepath.Join(root, "usr/bin/sort"))
	cmd.Stdin = strings.NewReader("b\na\n")
	if b, err := cmd.CombinedOutput(); err != nil || string(b) != "a\nb\n" {
		t.Errorf("the packed sort with the packed loader and libraries: %v %q", err, b)
	}

	static, err := SharedLibs([]Mapping{{Src: buildPause(t, dir), Dest: "/pause"}, {Src: dir, Dest: "/d"}})
	if err != nil || len(static) != 0 {
		t.Errorf("a static binary and a folder: %+v %v, want no libraries", static, err)
	}
}
