package jobs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// MaxPackageSize bounds an uploaded working_dir package, like Ray's 500 MiB.
const MaxPackageSize = api.MaxPackageBytes

// Packages are zips stored in the head's content-addressed store (the one
// the GCS keeps jobs' executables in) under their sha256; the runtime_env
// names one as gcs://_goray_pkg_<sha256>.zip. They move in chunks all the
// way: an upload is written to a temporary file as it arrives, then sent
// to the GCS in packageChunk pieces; a download arrives in the GCS's chunks
// into a temporary file that is unpacked. No step holds a package in memory.

// packageChunk is the size of the chunks a package is sent to the GCS in:
// well below gRPC's default 4 MiB message limit, so any GCS server takes them.
const packageChunk = 1 << 20

// maxConcurrentUploads bounds the uploads the dashboard takes at once:
// each may hold up to MaxPackageSize of temporary disk.
const maxConcurrentUploads = 4

// errPackageTooLarge is an upload over MaxPackageSize (413).
var errPackageTooLarge = fmt.Errorf("package is larger than %d bytes", MaxPackageSize)

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

// receivePackage stores an uploaded zip whose sha256 must be hash: written
// to a temporary file as it arrives (at most MaxPackageSize bytes), checked,
// then streamed into the GCS.
func (m *Manager) receivePackage(ctx context.Context, hash string, body io.Reader) error {
	select {
	case m.uploads <- struct{}{}:
		defer func() { <-m.uploads }()
	case <-ctx.Done():
		return ctx.Err()
	}
	tmp, err := os.CreateTemp(m.packageTmp(), "upload-*.zip")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(body, MaxPackageSize+1))
	if err != nil {
		return &BadRequestError{fmt.Errorf("failed to read the package: %w", err)}
	}
	if n > MaxPackageSize {
		return errPackageTooLarge
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return &BadRequestError{fmt.Errorf("package content hashes to %s, not %s", got, hash)}
	}
	if err := checkZip(tmp.Name()); err != nil {
		return &BadRequestError{fmt.Errorf("package is not a zip file: %w", err)}
	}
	return m.storePackage(ctx, hash, tmp, n)
}

// storePackage streams size bytes of f into the GCS's store under hash.
func (m *Manager) storePackage(ctx context.Context, hash string, f *os.File, size int64) error {
	stream, err := m.cfg.GCS.UploadBinary(ctx)
	if err != nil {
		return err
	}
	buf := make([]byte, packageChunk)
	var off int64
	for {
		n, rerr := f.ReadAt(buf, off)
		if n > 0 || off == 0 {
			if err := stream.Send(&rpcpb.Chunk{Id: hash, TotalSize: size, Offset: off, Data: buf[:n]}); err != nil {
				_, rerr := stream.CloseAndRecv() // the GCS's reason, when it gave one
				return errors.Join(err, rerr)
			}
			off += int64(n)
		}
		if errors.Is(rerr, io.EOF) || off >= size {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	_, err = stream.CloseAndRecv()
	return err
}

// packageTmp is where packages are written while they arrive.
func (m *Manager) packageTmp() string { return filepath.Join(m.cfg.Dir, "jobs") }

// fetchPackage downloads a package and unpacks it into dir (replacing it).
func (m *Manager) fetchPackage(ctx context.Context, uri, dir string) error {
	hash, err := parsePackageURI(uri)
	if err != nil {
		return err
	}
	// The GCS sends its store's chunks whole (rpcutil.ChunkSize, 4 MiB plus
	// the framing): a dashboard's client with gRPC's 4 MiB default must
	// still take them.
	stream, err := m.cfg.GCS.DownloadBinary(ctx, &rpcpb.BinaryRef{Hash: hash}, bigReply)
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
	var size int64
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("package %s: %w", uri, err)
		}
		if size += int64(len(c.Data)); size > MaxPackageSize {
			return fmt.Errorf("package %s: %w", uri, errPackageTooLarge)
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
	return unpackInto(tmp.Name(), dir, false)
}

// unpackInto replaces dir with the zip's files.
func unpackInto(zipPath, dir string, stripTop bool) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return unzip(zipPath, dir, stripTop)
}
