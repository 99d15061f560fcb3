package node

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func createLog(path string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	return os.Create(path)
}

// HashFile returns the sha256 hex digest of a file.
func HashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// binaryFor finds the job's executable: the driver's own path when this node
// can see the very same file, else a cached copy fetched from the GCS by hash.
func (n *Node) binaryFor(ctx context.Context, job string) (string, error) {
	n.mu.Lock()
	p, ok := n.binaries[job]
	n.mu.Unlock()
	if ok {
		return p, nil
	}
	jobs, err := n.gcs.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		return "", status.Errorf(codes.Unavailable, "look up job %s: %v", job, err)
	}
	var info *rpcpb.JobInfo
	for _, j := range jobs.Jobs {
		if j.JobId == job {
			info = j
		}
	}
	if info == nil {
		return "", status.Errorf(codes.NotFound, "job %s is not registered with the GCS", job)
	}
	if info.BinaryHash == "" {
		return "", status.Errorf(codes.FailedPrecondition, "job %s has no executable to run workers from", job)
	}
	path := ""
	if info.BinaryPath != "" {
		if h, err := HashFile(info.BinaryPath); err == nil && h == info.BinaryHash {
			path = info.BinaryPath
		}
	}
	if path == "" {
		path = filepath.Join(n.cfg.Dir, "binaries", info.BinaryHash)
		if _, err := os.Stat(path); err != nil {
			if err := n.download(ctx, info.BinaryHash, path); err != nil {
				return "", err
			}
		}
	}
	n.mu.Lock()
	n.binaries[job] = path
	n.mu.Unlock()
	return path, nil
}

func (n *Node) download(ctx context.Context, hash, path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	stream, err := n.gcs.DownloadBinary(ctx, &rpcpb.BinaryRef{Hash: hash})
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "dl-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	for {
		c, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			_ = f.Close()
			return fmt.Errorf("download executable %s: %w", hash, err)
		}
		if _, err := f.Write(c.Data); err != nil {
			_ = f.Close()
			return fmt.Errorf("download executable %s: %w", hash, err)
		}
		h.Write(c.Data)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("download executable %s: %w", hash, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash {
		return fmt.Errorf("downloaded executable hashes to %s, want %s", got, hash)
	}
	if err := os.Chmod(f.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
