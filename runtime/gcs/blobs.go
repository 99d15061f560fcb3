package gcs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Executables and working_dir packages ("blobs", by sha256) are files under
// Config.Dir, which nodes and the job manager download in chunks. With
// BlobsInStorage they are written through to the storage as well, before
// the upload is acknowledged, so a head restarted elsewhere (a new pod on
// Redis) still has every executable a running job's workers start from;
// the head's file is then only a cache, filled again on the first
// download. (The file store keeps Config.Dir on its own volume instead.)

// blobChunk is the size of a blob's pieces in the storage: well under
// storage.MaxValueBytes, and few enough round trips for a binary of
// hundreds of MB.
const blobChunk = 4 << 20

// blobChunksPerBatch bounds one storage batch while a blob is written
// (under storage.MaxBatchBytes).
const blobChunksPerBatch = 8

// blobIndex is a stored blob's entry in storage.BlobIndex: written last,
// so a blob whose chunks were not all written is not there.
type blobIndex struct {
	Size   int64 `json:"size"`
	Chunks int   `json:"chunks"`
}

func blobChunkKey(hash string, i int) string { return fmt.Sprintf("%s/%08d", hash, i) }

// blobLocks serializes filling the head's cache per blob.
type blobLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (l *blobLocks) get(hash string) *sync.Mutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.locks == nil {
		l.locks = map[string]*sync.Mutex{}
	}
	m, ok := l.locks[hash]
	if !ok {
		m = &sync.Mutex{}
		l.locks[hash] = m
	}
	return m
}

func (s *Server) binPath(hash string) (string, error) {
	if len(hash) != 64 {
		return "", status.Errorf(codes.InvalidArgument, "binary hash %q is not a sha256 hex digest", hash)
	}
	if _, err := hex.DecodeString(hash); err != nil {
		return "", status.Errorf(codes.InvalidArgument, "binary hash %q is not hex", hash)
	}
	return filepath.Join(s.cfg.Dir, "binaries", hash), nil
}

// storedBlob reads a blob's index entry; found is false without one (or
// when blobs are not in the storage).
func (s *Server) storedBlob(ctx context.Context, hash string) (idx blobIndex, found bool, err error) {
	if !s.cfg.BlobsInStorage || s.cfg.Storage == nil {
		return idx, false, nil
	}
	v, found, err := s.cfg.Storage.Get(ctx, storage.BlobIndex, hash)
	if err != nil || !found {
		return idx, false, err
	}
	if err := json.Unmarshal(v, &idx); err != nil || idx.Size < 0 || idx.Chunks < 0 || int64(idx.Chunks) > idx.Size/blobChunk+1 {
		return idx, false, fmt.Errorf("stored blob %s: a bad index entry %q", hash, v)
	}
	return idx, true, nil
}

// HasBinary reports whether an executable was uploaded.
func (s *Server) HasBinary(ctx context.Context, in *rpcpb.BinaryRef) (*rpcpb.HasBinaryReply, error) {
	p, err := s.binPath(in.Hash)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(p); err == nil {
		return &rpcpb.HasBinaryReply{Present: true}, nil
	}
	_, found, err := s.storedBlob(ctx, in.Hash)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "GCS storage: %v", err)
	}
	return &rpcpb.HasBinaryReply{Present: found}, nil
}

// UploadBinary stores an executable under its sha256 (the chunks' id).
func (s *Server) UploadBinary(stream rpcpb.Gcs_UploadBinaryServer) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	p, err := s.binPath(first.Id)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "upload-*")
	if err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	w := io.MultiWriter(f, h)
	for c := first; ; {
		if _, err := w.Write(c.Data); err != nil {
			_ = f.Close()
			return status.Errorf(codes.Internal, "store binary: %v", err)
		}
		if c, err = stream.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			_ = f.Close()
			return err
		}
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != first.Id {
		_ = f.Close()
		return status.Errorf(codes.DataLoss, "uploaded binary hashes to %s, not %s", got, first.Id)
	}
	// Durable before it is acknowledged: in the storage, or synced on a
	// durable storage's volume, where the store outlives the head.
	if s.cfg.BlobsInStorage && s.cfg.Storage != nil {
		if err := s.storeBlob(stream.Context(), first.Id, f); err != nil {
			_ = f.Close()
			return status.Errorf(codes.Unavailable, "store binary in the GCS storage: %v", err)
		}
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	if err := f.Close(); err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	if err := installFile(f.Name(), p); err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	return stream.SendAndClose(&rpcpb.Empty{})
}

// installFile makes a complete temporary file the blob file at p.
func installFile(tmp, p string) error {
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	if d, err := os.Open(filepath.Dir(p)); err == nil {
		_ = d.Sync() // the rename itself
		_ = d.Close()
	}
	return nil
}

// storeBlob writes the file f holds (blob hash) to the storage in chunks,
// its index entry last. A blob already stored is not written again.
func (s *Server) storeBlob(ctx context.Context, hash string, f *os.File) error {
	if _, found, err := s.storedBlob(ctx, hash); err != nil || found {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	n := int((size + blobChunk - 1) / blobChunk)
	for i := 0; i < n; i += blobChunksPerBatch {
		var ops []storage.Op
		for j := i; j < min(n, i+blobChunksPerBatch); j++ {
			buf := make([]byte, min(blobChunk, size-int64(j)*blobChunk))
			if _, err := f.ReadAt(buf, int64(j)*blobChunk); err != nil {
				return err
			}
			ops = append(ops, storage.Op{Table: storage.Blobs, Key: blobChunkKey(hash, j), Value: buf})
		}
		if err := s.cfg.Storage.Apply(ctx, ops...); err != nil {
			return err
		}
	}
	idx, _ := json.Marshal(blobIndex{Size: size, Chunks: n})
	return storage.Put(ctx, s.cfg.Storage, storage.BlobIndex, hash, idx)
}

// openBlob opens the blob's file on the head, first filling it from the
// storage when only the storage has it (a head restarted without its old
// disk).
func (s *Server) openBlob(ctx context.Context, hash string) (*os.File, error) {
	p, err := s.binPath(hash)
	if err != nil {
		return nil, err
	}
	if f, err := os.Open(p); err == nil {
		return f, nil
	}
	idx, found, err := s.storedBlob(ctx, hash)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "GCS storage: %v", err)
	}
	if !found {
		return nil, status.Errorf(codes.NotFound, "binary %s was not uploaded", hash)
	}
	l := s.blobLocks.get(hash)
	l.Lock()
	defer l.Unlock()
	if f, err := os.Open(p); err == nil { // filled meanwhile
		return f, nil
	}
	if err := s.fillBlob(ctx, hash, idx, p); err != nil {
		return nil, err
	}
	return os.Open(p)
}

// fillBlob writes a stored blob to the head's file p, checking its hash.
func (s *Server) fillBlob(ctx context.Context, hash string, idx blobIndex, p string) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), "fill-*")
	if err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	defer os.Remove(f.Name())
	h := sha256.New()
	w := io.MultiWriter(f, h)
	var size int64
	for i := 0; i < idx.Chunks; i++ {
		v, found, err := s.cfg.Storage.Get(ctx, storage.Blobs, blobChunkKey(hash, i))
		if err != nil {
			_ = f.Close()
			return status.Errorf(codes.Unavailable, "GCS storage: %v", err)
		}
		if !found {
			_ = f.Close()
			return status.Errorf(codes.DataLoss, "binary %s: piece %d of %d is missing from the GCS storage", hash, i, idx.Chunks)
		}
		if _, err := w.Write(v); err != nil {
			_ = f.Close()
			return status.Errorf(codes.Internal, "store binary: %v", err)
		}
		size += int64(len(v))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != hash || size != idx.Size {
		_ = f.Close()
		return status.Errorf(codes.DataLoss, "binary %s in the GCS storage reads back as %d bytes hashing to %s", hash, size, got)
	}
	if err := f.Close(); err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	if err := installFile(f.Name(), p); err != nil {
		return status.Errorf(codes.Internal, "store binary: %v", err)
	}
	s.log.Printf("binary %s (%d bytes) restored from the GCS storage", hash, size)
	return nil
}

// DownloadBinary streams an uploaded executable.
func (s *Server) DownloadBinary(in *rpcpb.BinaryRef, stream rpcpb.Gcs_DownloadBinaryServer) error {
	f, err := s.openBlob(stream.Context(), in.Hash)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, rpcutil.ChunkSize)
	var off int64
	for {
		n, err := f.Read(buf)
		if n > 0 {
			if err := stream.Send(&rpcpb.Chunk{Id: in.Hash, Offset: off, Data: buf[:n]}); err != nil {
				return err
			}
			off += int64(n)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return status.Errorf(codes.Internal, "read binary: %v", err)
		}
	}
}
