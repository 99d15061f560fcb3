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
func TestImageContents(t *testing.T) {
	dir := filepath.Join(cluster.State, "images")
	cases := []struct {
		image, file, entrypoint string
		files                   []string
	}{
		{"goray/goray:dev", "goray.tar", "/usr/local/bin/goray", []string{"usr/local/bin/goray"}},
		{"goray/operator:dev", "operator.tar", "/usr/local/bin/goray-operator", []string{"usr/local/bin/goray-operator"}},
		{"goray/pause:dev", "pause.tar", "/pause", []string{"pause"}},
		{probeImage, "e2e-probe.tar", "/usr/local/bin/probe", []string{"usr/local/bin/probe"}},
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
				files := map[string][]byte{}
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
						if h.Typeflag == tar.TypeReg {
							files[h.Name], _ = io.ReadAll(tr)
						}
					}
					rc.Close()
				}
				for _, f := range c.files {
					if len(files[f]) == 0 {
						t.Errorf("%s: no %s in the layers", c.image, f)
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
