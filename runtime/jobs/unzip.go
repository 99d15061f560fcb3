package jobs

import (
	"archive/zip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// errUnpackedTooLarge is a package whose files pass its unpacking budget
// (api.MaxUnpackedBytes).
var errUnpackedTooLarge = errors.New("the package unpacks to more bytes than a working_dir may hold")

// checkZip opens a zip and checks what can be checked before unpacking it:
// a readable central directory of at most api.MaxPackageEntries entries.
func checkZip(path string) error {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return err
	}
	defer zr.Close()
	if len(zr.File) > api.MaxPackageEntries {
		return fmt.Errorf("the zip has %d entries; a package holds at most %d", len(zr.File), api.MaxPackageEntries)
	}
	return nil
}

// topLevelDir is the one directory every entry of a zip is in, as Ray
// finds it in a remote working_dir (GitHub's archives are such zips), or ""
// when the entries are not all in one directory. macOS's __MACOSX
// resource forks do not count.
func topLevelDir(files []*zip.File) string {
	top := ""
	for _, f := range files {
		first, _, nested := strings.Cut(f.Name, "/")
		if first == "__MACOSX" {
			continue
		}
		if !nested && !f.FileInfo().IsDir() {
			return "" // a file at the top
		}
		if top != "" && first != top {
			return ""
		}
		top = first
	}
	return top
}

// unzip extracts a zip into dir, refusing entries that would land outside
// it, symlinks, more than api.MaxPackageEntries entries and more than
// api.MaxUnpackedBytes of files (counted as written, whatever the headers
// say). With stripTop, the zip's single top-level directory, if it has one,
// is left out, as Ray unpacks a remote working_dir.
func unzip(zipPath, dir string, stripTop bool) error {
	return unzipLimited(zipPath, dir, stripTop, api.MaxUnpackedBytes, api.MaxPackageEntries)
}

// unzipLimited is unzip with its limits given.
func unzipLimited(zipPath, dir string, stripTop bool, maxBytes int64, maxEntries int) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	if len(zr.File) > maxEntries {
		return fmt.Errorf("the zip has %d entries; a package holds at most %d", len(zr.File), maxEntries)
	}
	prefix := ""
	if stripTop {
		if top := topLevelDir(zr.File); top != "" {
			prefix = top + "/"
		}
	}
	budget := maxBytes
	for _, f := range zr.File {
		name := f.Name
		if prefix != "" {
			if strings.HasPrefix(name, "__MACOSX/") {
				continue
			}
			name = strings.TrimPrefix(name, prefix)
			if name == "" {
				continue // the top-level directory itself
			}
		}
		local := filepath.FromSlash(name)
		if !filepath.IsLocal(local) {
			return fmt.Errorf("zip entry %q leaves the working dir", f.Name)
		}
		dst := filepath.Join(dir, local)
		if f.FileInfo().IsDir() {
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			continue
		}
		if f.Mode()&os.ModeSymlink != 0 {
			return fmt.Errorf("zip entry %q is a symlink, which working_dir packages may not contain", f.Name)
		}
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		n, err := extract(f, dst, budget)
		if err != nil {
			return err
		}
		budget -= n
	}
	return nil
}

// extract writes one entry to dst, at most budget bytes of it.
func extract(f *zip.File, dst string, budget int64) (int64, error) {
	rc, err := f.Open()
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	mode := f.Mode().Perm()
	if mode == 0 {
		mode = 0o644
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o200)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, io.LimitReader(rc, budget+1))
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > budget {
		err = errUnpackedTooLarge
	}
	if err != nil && !errors.Is(err, errUnpackedTooLarge) {
		err = fmt.Errorf("zip entry %q: %w", f.Name, err)
	}
	return n, err
}
