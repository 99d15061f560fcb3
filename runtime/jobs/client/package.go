package client

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
const MaxPackageSize = 500 << 20

// skipped names are never packaged (as Ray's default excludes .git).
var skipped = map[string]bool{".git": true}

// ZipDir packs a directory's regular files into a zip whose bytes depend
// only on the files' paths, contents and permission bits, so the same tree
// always has the same package URI. Symlinks to files are followed; other
// non-regular files are skipped.
func ZipDir(dir string) ([]byte, error) {
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
		return nil, err
	}
	sort.Slice(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	epoch := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, f := range files {
		h := &zip.FileHeader{Name: f.rel, Method: zip.Deflate, Modified: epoch}
		h.SetMode(f.mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		src, err := os.Open(f.path)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(w, src)
		_ = src.Close()
		if err != nil {
			return nil, err
		}
		if buf.Len() > MaxPackageSize {
			return nil, fmt.Errorf("working dir %s packs to more than %d bytes", dir, MaxPackageSize)
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// UploadPackage stores a zip on the head (unless it is there already) and
// returns its runtime_env URI, gcs://_goray_pkg_<sha256>.zip.
func (c *Client) UploadPackage(ctx context.Context, zipData []byte) (string, error) {
	sum := sha256.Sum256(zipData)
	hash := hex.EncodeToString(sum[:])
	path := "/api/packages/gcs/" + api.PackagePrefix + hash + ".zip"
	err := c.do(ctx, http.MethodGet, path, nil, "", nil)
	if err == nil {
		return api.PackageURI(hash), nil
	}
	if !IsNotFound(err) {
		return "", err
	}
	if err := c.do(ctx, http.MethodPut, path, bytes.NewReader(zipData), "application/zip", nil); err != nil {
		return "", err
	}
	return api.PackageURI(hash), nil
}

// UploadWorkingDir zips a local directory, uploads it and returns the URI
// to put in runtime_env["working_dir"].
func (c *Client) UploadWorkingDir(ctx context.Context, dir string) (string, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return "", fmt.Errorf("working dir: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("working dir %s is not a directory", dir)
	}
	data, err := ZipDir(dir)
	if err != nil {
		return "", fmt.Errorf("pack working dir %s: %w", dir, err)
	}
	return c.UploadPackage(ctx, data)
}
