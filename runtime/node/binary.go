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

	"github.com/goray-dev/goray/runtime/internal/exehash"

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

// cachedBinary is where an executable of a known hash is. A driver's own
// file (path outside the node's directory) can be rebuilt in place: it is
// used again only while it is the file that was hashed (same inode, size
// and modification time). Downloaded copies are named by their hash and
// verified when written.
type cachedBinary struct {
	path string
	// seen is the driver's file as hashed (nil for a downloaded copy).
	seen os.FileInfo
}

// current reports whether the cached file is still the one that was hashed.
func (c cachedBinary) current() bool {
	if c.seen == nil {
		return true
	}
	fi, err := os.Stat(c.path)
	return err == nil && os.SameFile(fi, c.seen) && fi.Size() == c.seen.Size() && fi.ModTime().Equal(c.seen.ModTime())
}

// binaryFor finds the executable a lease of job asks for and its hash: the
// owner's hash when the request carries one (else the job's, from the GCS),
// found in the cache by content, else at the driver's own path when this
// node sees the very same file, else fetched from the GCS by hash. A request
// whose hash is not the one the GCS has for the job is refused: it comes
// from another program that had the same job id (an owner of a GCS that
// restarted without storage).
func (n *Node) binaryFor(ctx context.Context, job, hash string) (string, string, error) {
	n.mu.Lock()
	want := hash
	if want == "" {
		want = n.jobHashes[job]
	}
	c, ok := n.binaries[want]
	epoch := n.epoch
	n.mu.Unlock()
	if want != "" && ok && c.current() {
		return c.path, want, nil
	}
	jobs, err := n.gcs.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		return "", "", status.Errorf(codes.Unavailable, "look up job %s: %v", job, err)
	}
	var info *rpcpb.JobInfo
	for _, j := range jobs.Jobs {
		if j.JobId == job {
			info = j
		}
	}
	if info == nil {
		return "", "", status.Errorf(codes.NotFound, "job %s is not registered with the GCS", job)
	}
	if info.BinaryHash == "" {
		return "", "", status.Errorf(codes.FailedPrecondition, "job %s has no executable to run workers from", job)
	}
	if hash != "" && hash != info.BinaryHash {
		return "", "", status.Errorf(codes.FailedPrecondition,
			"job %s runs executable %.12s at the GCS, but this lease asks for %.12s: the request belongs to another program with the same job id (its GCS restarted without fault-tolerant storage)",
			job, info.BinaryHash, hash)
	}
	hash = info.BinaryHash
	c = cachedBinary{}
	if info.BinaryPath != "" {
		if fi, err := os.Stat(info.BinaryPath); err == nil {
			if h, err := exehash.File(info.BinaryPath); err == nil && h == hash {
				c = cachedBinary{path: info.BinaryPath, seen: fi}
			}
		}
	}
	if c.path == "" {
		c.path = filepath.Join(n.cfg.Dir, "binaries", hash)
		if _, err := os.Stat(c.path); err != nil {
			if err := n.download(ctx, hash, c.path); err != nil {
				return "", "", err
			}
		}
	}
	n.mu.Lock()
	// Not kept when the node dropped a GCS incarnation meanwhile: the job
	// id may name another program in the new one.
	if n.epoch == epoch {
		n.binaries[hash] = c
		n.jobHashes[job] = hash
	}
	n.mu.Unlock()
	return c.path, hash, nil
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
