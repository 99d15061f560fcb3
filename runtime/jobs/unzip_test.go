package jobs

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// writeZip makes a zip of name → content ("" content and a trailing slash:
// a directory entry).
func writeZip(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: n, Method: zip.Deflate})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(files[n])); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tree lists the files under dir with their contents.
func tree(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		rel, _ := filepath.Rel(dir, p)
		out[filepath.ToSlash(rel)] = string(b)
		return nil
	})
	return out
}

func unzipBytes(t *testing.T, data []byte, stripTop bool, maxBytes int64, maxEntries int) (map[string]string, error) {
	t.Helper()
	zp := filepath.Join(t.TempDir(), "p.zip")
	if err := os.WriteFile(zp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := t.TempDir()
	err := unzipLimited(zp, dst, stripTop, maxBytes, maxEntries)
	return tree(t, dst), err
}

func TestUnzipStripsTheSingleTopLevelDirectory(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		want  map[string]string
	}{
		{"a GitHub archive", map[string]string{"repo-main/": "", "repo-main/run.sh": "echo", "repo-main/lib/a.txt": "a"},
			map[string]string{"run.sh": "echo", "lib/a.txt": "a"}},
		{"without directory entries", map[string]string{"top/x": "1", "top/y/z": "2"}, map[string]string{"x": "1", "y/z": "2"}},
		{"macOS resource forks beside it", map[string]string{"app/run": "r", "__MACOSX/app/._run": "fork"}, map[string]string{"run": "r"}},
		{"two top-level directories: kept", map[string]string{"a/x": "1", "b/y": "2"}, map[string]string{"a/x": "1", "b/y": "2"}},
		{"a file at the top: kept", map[string]string{"top/x": "1", "README": "r"}, map[string]string{"top/x": "1", "README": "r"}},
	} {
		got, err := unzipBytes(t, writeZip(t, c.files), true, 1<<20, 100)
		if err != nil || !equalTrees(got, c.want) {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
	// Without stripping (an uploaded package), the tree is as zipped.
	got, err := unzipBytes(t, writeZip(t, map[string]string{"top/x": "1"}), false, 1<<20, 100)
	if err != nil || !equalTrees(got, map[string]string{"top/x": "1"}) {
		t.Errorf("unstripped: %v %v", got, err)
	}
}

func equalTrees(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestUnzipLimits: a zip bomb stops at the budget, counted in bytes
// written; too many entries are refused before anything is written.
func TestUnzipLimits(t *testing.T) {
	bomb := writeZip(t, map[string]string{"zeros": strings.Repeat("\x00", 4<<20)})
	if len(bomb) > 64<<10 {
		t.Fatalf("the bomb is %d bytes", len(bomb))
	}
	got, err := unzipBytes(t, bomb, false, 1<<20, 100)
	if !errors.Is(err, errUnpackedTooLarge) {
		t.Errorf("4 MiB of zeros into a 1 MiB budget: %v", err)
	}
	if n := len(got["zeros"]); n > 1<<20+1 {
		t.Errorf("%d bytes written past the budget", n)
	}
	if _, err := unzipBytes(t, bomb, false, 4<<20, 100); err != nil {
		t.Errorf("the same zip within its budget: %v", err)
	}
	many := map[string]string{}
	for i := range 11 {
		many["f"+strings.Repeat("x", i)] = "1"
	}
	got, err = unzipBytes(t, writeZip(t, many), false, 1<<20, 10)
	if err == nil || !strings.Contains(err.Error(), "at most 10") || len(got) != 0 {
		t.Errorf("11 entries with a limit of 10: %v, %d files written", err, len(got))
	}
	// Stripping a top-level directory never lets an entry out.
	if _, err := unzipBytes(t, writeZip(t, map[string]string{"top/../../escape": "x"}), true, 1<<20, 10); err == nil {
		t.Error("top/../../escape unpacked")
	}
}

// FuzzUnzip unpacks arbitrary bytes as a package, stripped and not: it
// never writes outside its directory nor past its budget.
func FuzzUnzip(f *testing.F) {
	f.Add(writeZip(f, map[string]string{"top/": "", "top/a": "hello", "top/b/c": "x"}))
	f.Add(writeZip(f, map[string]string{"../x": "escape", "a/../../y": "z"}))
	f.Add(writeZip(f, map[string]string{"zeros": strings.Repeat("\x00", 200<<10)}))
	f.Add([]byte("PK\x03\x04 not really"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<20 {
			return
		}
		root := t.TempDir()
		zp := filepath.Join(root, "p.zip")
		if err := os.WriteFile(zp, data, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, strip := range []bool{false, true} {
			dst := filepath.Join(root, "out", "dir")
			if err := os.MkdirAll(dst, 0o755); err != nil {
				t.Fatal(err)
			}
			_ = unzipLimited(zp, dst, strip, 64<<10, 50)
			var total int64
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if p != root && p != zp && !strings.HasPrefix(p, dst+string(filepath.Separator)) && p != dst &&
					p != filepath.Join(root, "out") {
					t.Errorf("%s written outside the working dir", p)
				}
				if info, err := d.Info(); err == nil && info.Mode().IsRegular() && p != zp {
					total += info.Size()
				}
				return nil
			})
			if total > 64<<10+1 {
				t.Errorf("%d bytes unpacked with a budget of %d", total, 64<<10)
			}
			_ = os.RemoveAll(filepath.Join(root, "out"))
		}
	})
}
