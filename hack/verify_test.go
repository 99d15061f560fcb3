// Package hack holds the project's scripts; this test proves that
// hack/verify-generated.sh (`make verify`) catches a stale generated file.
package hack

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// copyTree copies the files git tracks (plus untracked, not ignored ones)
// into dst, so the test never touches the developer's tree.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	out, err := exec.Command("git", "-C", src, "ls-files", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatalf("git ls-files: %v", err)
	}
	for _, rel := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		data, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			continue // deleted in the worktree
		}
		info, _ := os.Stat(filepath.Join(src, rel))
		target := filepath.Join(dst, rel)
		if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, data, info.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	// Reuse the installed tools instead of building them again.
	if err := os.Symlink(filepath.Join(src, "bin"), filepath.Join(dst, "bin")); err != nil {
		t.Fatal(err)
	}
}

func runVerify(dir string) (string, error) {
	cmd := exec.Command("hack/verify-generated.sh")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestVerifyFailsOnStaleGeneratedFile(t *testing.T) {
	if testing.Short() {
		t.Skip("runs code generation")
	}
	root, _ := filepath.Abs("..")
	if _, err := os.Stat(filepath.Join(root, "bin")); err != nil {
		t.Fatalf("bin/ missing: run `make generate` first (%v)", err)
	}
	dir := t.TempDir()
	copyTree(t, root, dir)

	if out, err := runVerify(dir); err != nil {
		t.Fatalf("verify fails on a fresh copy of the tree: %v\n%s", err, out)
	}

	crd := filepath.Join(dir, "config", "crd", "bases", "ray.io_rayclusters.yaml")
	data, err := os.ReadFile(crd)
	if err != nil {
		t.Fatal(err)
	}
	stale := strings.Replace(string(data), "maxReplicas:", "maxReplicaz:", 1)
	if err := os.WriteFile(crd, []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := runVerify(dir)
	if err == nil {
		t.Fatalf("verify passed with a stale CRD:\n%s", out)
	}
	if !strings.Contains(out, "config/crd/bases/ray.io_rayclusters.yaml") {
		t.Fatalf("verify did not name the stale file:\n%s", out)
	}
}
