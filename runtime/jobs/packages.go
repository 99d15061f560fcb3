package jobs

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// MaxPackageSize bounds an uploaded working_dir package, like Ray's 500 MiB.
const MaxPackageSize = 500 << 20

// Packages are zips stored in the head's content-addressed store (the one
// the GCS keeps jobs' executables in) under their sha256; the runtime_env
// names one as gcs://_goray_pkg_<sha256>.zip.

// packageHash checks a package name (_goray_pkg_<sha256>.zip) and returns its hash.
func packageHash(protocol, name string) (string, error) {
	if protocol != "gcs" {
		return "", fmt.Errorf("unsupported package protocol %q: goray stores packages under gcs://", protocol)
	}
	h, ok := strings.CutPrefix(name, api.PackagePrefix)
	if ok {
		h, ok = strings.CutSuffix(h, ".zip")
	}
	if _, err := hex.DecodeString(h); !ok || err != nil || len(h) != 64 {
		return "", fmt.Errorf("package name %q is not %s<sha256 hex>.zip", name, api.PackagePrefix)
	}
	return h, nil
}

// parsePackageURI reads gcs://_goray_pkg_<sha256>.zip.
func parsePackageURI(uri string) (string, error) {
	protocol, name, ok := strings.Cut(uri, "://")
	if !ok {
		return "", fmt.Errorf("%q is not a package URI: upload the directory first (goray job submit --working-dir does)", uri)
	}
	return packageHash(protocol, name)
}

// hasPackage reports whether the store holds a package.
func (m *Manager) hasPackage(ctx context.Context, hash string) (bool, error) {
	ctx, cancel := rpcCtx(ctx)
	defer cancel()
	rep, err := m.cfg.GCS.HasBinary(ctx, &rpcpb.BinaryRef{Hash: hash})
	if err != nil {
		return false, err
	}
	return rep.Present, nil
}

// putPackage stores a zip whose sha256 must be hash.
func (m *Manager) putPackage(ctx context.Context, hash string, data []byte) error {
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != hash {
		return &BadRequestError{fmt.Errorf("package content hashes to %s, not %s", got, hash)}
	}
	if _, err := zip.NewReader(bytes.NewReader(data), int64(len(data))); err != nil {
		return &BadRequestError{fmt.Errorf("package is not a zip file: %w", err)}
	}
	stream, err := m.cfg.GCS.UploadBinary(ctx)
	if err != nil {
		return err
	}
	for off := 0; off < len(data) || off == 0; off += rpcutil.ChunkSize {
		end := min(off+rpcutil.ChunkSize, len(data))
		if err := stream.Send(&rpcpb.Chunk{Id: hash, TotalSize: int64(len(data)), Offset: int64(off), Data: data[off:end]}); err != nil {
			return err
		}
		if end == len(data) {
			break
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// fetchPackage downloads a package and unpacks it into dir (replacing it).
func (m *Manager) fetchPackage(ctx context.Context, uri, dir string) error {
	hash, err := parsePackageURI(uri)
	if err != nil {
		return err
	}
	stream, err := m.cfg.GCS.DownloadBinary(ctx, &rpcpb.BinaryRef{Hash: hash})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dir), "pkg-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("package %s: %w", uri, err)
		}
		if _, err := tmp.Write(c.Data); err != nil {
			return fmt.Errorf("package %s: %w", uri, err)
		}
		h.Write(c.Data)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("package %s: %w", uri, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return fmt.Errorf("package %s arrived with hash %s", uri, got)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return unzip(tmp.Name(), dir)
}

// unzip extracts a zip into dir, refusing entries that would land outside it.
func unzip(zipPath, dir string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		name := filepath.FromSlash(f.Name)
		if !filepath.IsLocal(name) {
			return fmt.Errorf("zip entry %q leaves the working dir", f.Name)
		}
		dst := filepath.Join(dir, name)
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
		if err := extract(f, dst); err != nil {
			return err
		}
	}
	return nil
}

func extract(f *zip.File, dst string) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	mode := f.Mode().Perm()
	if mode == 0 {
		mode = 0o644
	}
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode|0o200)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}
