//go:build e2e

package e2e

import (
	"archive/tar"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageContents checks the images that hack/cluster/load-images.sh packed
// (the ones the cluster runs): binaries at their paths, entrypoint, non-root
// user, and that each entrypoint starts (`--help`, run from the extracted file).
// The runtime image also has a shell: /bin/busybox (Debian's busybox-static)
// with /bin/sh and /bin/wget links, and that shell runs `sh -c`.
func TestImageContents(t *testing.T) {
	dir := filepath.Join(cluster.State, "images")
	cases := []struct {
		image, file, entrypoint string
		files                   []string
		links                   map[string]string // path -> target
	}{
		{"goray/goray:dev", "goray.tar", "/usr/local/bin/goray", []string{"usr/local/bin/goray", "bin/busybox"},
			map[string]string{"bin/sh": "/bin/busybox", "bin/wget": "/bin/busybox", "usr/bin/env": "/bin/busybox"}},
		{"goray/operator:dev", "operator.tar", "/usr/local/bin/goray-operator", []string{"usr/local/bin/goray-operator"}, nil},
		{"goray/pause:dev", "pause.tar", "/pause", []string{"pause"}, nil},
		{probeImage, "e2e-probe.tar", "/usr/local/bin/probe", []string{"usr/local/bin/probe"}, nil},
	}
	if _, err := os.Stat(filepath.Join(cluster.Repo, "cmd", "goray-examples")); err == nil {
		cases[0].files = append(cases[0].files, "usr/local/bin/goray-examples")
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			if c.file != "pause.tar" && c.file != "e2e-probe.tar" && !loadedImages[c.image] {
				t.Skipf("%s was not packed", c.image)
			}
			step(t, "check "+c.image, func() {
				ref, err := name.NewTag(c.image)
				if err != nil {
					t.Fatal(err)
				}
				img, err := tarball.ImageFromPath(filepath.Join(dir, c.file), &ref)
				if err != nil {
					t.Fatal(err)
				}
				cf, err := img.ConfigFile()
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(cf.Config.Entrypoint, []string{c.entrypoint}) {
					t.Errorf("entrypoint %q, want [%s]", cf.Config.Entrypoint, c.entrypoint)
				}
				if cf.Config.User != "65532:65532" {
					t.Errorf("user %q, want 65532:65532", cf.Config.User)
				}
				files, links := map[string][]byte{}, map[string]string{}
				layers, _ := img.Layers()
				for _, l := range layers {
					rc, err := l.Uncompressed()
					if err != nil {
						t.Fatal(err)
					}
					tr := tar.NewReader(rc)
					for {
						h, err := tr.Next()
						if err != nil {
							break
						}
						switch h.Typeflag {
						case tar.TypeReg:
							files[h.Name], _ = io.ReadAll(tr)
						case tar.TypeSymlink:
							links[h.Name] = h.Linkname
						}
					}
					rc.Close()
				}
				for _, f := range c.files {
					if len(files[f]) == 0 {
						t.Errorf("%s: no %s in the layers", c.image, f)
					}
				}
				for p, target := range c.links {
					if links[p] != target {
						t.Errorf("%s: /%s links to %q, want %q", c.image, p, links[p], target)
					}
				}
				if bb := files["bin/busybox"]; len(bb) > 0 {
					// The shell the job supervisor uses: busybox run as sh.
					dir := t.TempDir()
					if err := os.WriteFile(filepath.Join(dir, "busybox"), bb, 0o755); err != nil {
						t.Fatal(err)
					}
					os.Symlink("busybox", filepath.Join(dir, "sh"))
					out, err := exec.Command(filepath.Join(dir, "sh"), "-c", "echo shell-$((6*7))").CombinedOutput()
					if err != nil || strings.TrimSpace(string(out)) != "shell-42" {
						t.Errorf("/bin/sh -c from the image: %v %q", err, out)
					}
				}
				ep := strings.TrimPrefix(c.entrypoint, "/")
				bin := filepath.Join(t.TempDir(), filepath.Base(ep))
				if err := os.WriteFile(bin, files[ep], 0o755); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(bin, "--help").CombinedOutput()
				if err != nil && !strings.Contains(strings.ToLower(string(out)), "usage") {
					t.Errorf("%s --help: %v\n%s", c.entrypoint, err, out)
				}
			})
		})
	}
}
