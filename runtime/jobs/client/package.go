package client

import (
	"archive/zip"
	"compress/flate"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// MaxPackageSize is the largest package the head accepts.
const MaxPackageSize = api.MaxPackageBytes

// skipped names are never packaged (as Ray's default excludes .git).
var skipped = map[string]bool{".git": true}

// errTooLarge stops a zip that outgrew MaxPackageSize.
var errTooLarge = errors.New("package too large")

// limitWriter fails a write that would take the total past max.
type limitWriter struct {
	w   io.Writer
	n   int64
	max int64
}

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n+int64(len(p)) > l.max {
		return 0, errTooLarge
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}

// WriteZip packs a directory's regular files into w as a zip whose bytes
// depend only on the files' paths, contents and permission bits, so the
// same tree always has the same package URI. Symlinks to files are
// followed; other non-regular files are skipped. The zip is written as it
// is made (a package of hundreds of MB is never in memory); it fails once
// it would pass MaxPackageSize. It returns the zip's size.
func WriteZip(dir string, w io.Writer) (int64, error) {
	type entry struct {
		rel  string
		path string
		mode fs.FileMode
	}
	var files []entry
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skipped[d.Name()] && p != dir {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			return nil //nolint:nilerr // dangling symlinks and unreadable entries are skipped, like sockets
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		files = append(files, entry{rel: filepath.ToSlash(rel), path: p, mode: st.Mode().Perm()})
		return nil
	})
	if err != nil {
		return 0, err
	}
	if len(files) > api.MaxPackageEntries {
		return 0, fmt.Errorf("working dir %s has %d files; a package holds at most %d", dir, len(files), api.MaxPackageEntries)
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	lw := &limitWriter{w: w, max: MaxPackageSize}
	zw := zip.NewWriter(lw)
	// The fastest deflate: a package is mostly binaries and data that
	// compress little at any level, and packing hundreds of MB at the
	// default level takes longer than sending them.
	zw.RegisterCompressor(zip.Deflate, func(out io.Writer) (io.WriteCloser, error) {
		return flate.NewWriter(out, flate.BestSpeed)
	})
	epoch := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.rel, Method: zip.Deflate, Modified: epoch}
		h.SetMode(f.mode)
		fw, err := zw.CreateHeader(h)
		if err == nil {
			err = copyFile(fw, f.path)
		}
		if errors.Is(err, errTooLarge) {
			return 0, fmt.Errorf("working dir %s packs to more than %d bytes", dir, MaxPackageSize)
		}
		if err != nil {
			return 0, err
		}
	}
	if err := zw.Close(); err != nil {
		if errors.Is(err, errTooLarge) {
			return 0, fmt.Errorf("working dir %s packs to more than %d bytes", dir, MaxPackageSize)
		}
		return 0, err
	}
	return lw.n, nil
}

func copyFile(w io.Writer, path string) error {
	src, err := os.Open(path)
	if err != nil {
		return err
	}
	defer src.Close()
	_, err = io.Copy(w, src)
	return err
}

// UploadPackageFile stores the zip at path on the head (unless it is there
// already) and returns its runtime_env URI, gcs://_goray_pkg_<sha256>.zip.
// The file is streamed: its size does not matter to memory.
func (c *Client) UploadPackageFile(ctx context.Context, path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	size, err := io.Copy(h, f)
	if err != nil {
		return "", err
	}
	hash := hex.EncodeToString(h.Sum(nil))
	p := "/api/packages/gcs/" + api.PackagePrefix + hash + ".zip"
	err = c.do(ctx, http.MethodGet, p, nil, "", nil)
	if err == nil {
		return api.PackageURI(hash), nil
	}
	if !IsNotFound(err) {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.BaseURL+p, io.NewSectionReader(f, 0, size))
	if err != nil {
		return "", err
	}
	req.ContentLength = size
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(f, 0, size)), nil }
	req.Header.Set("Content-Type", "application/zip")
	if err := c.send(req, nil); err != nil {
		return "", err
	}
	return api.PackageURI(hash), nil
}

// UploadWorkingDir zips a local directory into a temporary file, uploads
// it and returns the URI to put in runtime_env["working_dir"].
func (c *Client) UploadWorkingDir(ctx context.Context, dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("working dir: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("working dir %s is not a directory", dir)
	}
	tmp, err := os.CreateTemp("", "goray-working-dir-*.zip")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	_, err = WriteZip(dir, tmp)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("pack working dir %s: %w", dir, err)
	}
	return c.UploadPackageFile(ctx, tmp.Name())
}
