package gcs

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/gcs/storage/storagetest"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// serveGCS serves s on a loopback port and returns a client of it.
func serveGCS(t *testing.T, s *Server) rpcpb.GcsClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(16 << 20))
	rpcpb.RegisterGcsServer(srv, s)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	cc, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(16<<20)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return rpcpb.NewGcsClient(cc)
}

func uploadBlob(ctx context.Context, g rpcpb.GcsClient, data []byte) (string, error) {
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	st, err := g.UploadBinary(ctx)
	if err != nil {
		return "", err
	}
	for off := 0; off < len(data); off += rpcutil.ChunkSize {
		end := min(off+rpcutil.ChunkSize, len(data))
		if err := st.Send(&rpcpb.Chunk{Id: hash, TotalSize: int64(len(data)), Offset: int64(off), Data: data[off:end]}); err != nil {
			break
		}
	}
	_, err = st.CloseAndRecv()
	return hash, err
}

func downloadBlob(ctx context.Context, g rpcpb.GcsClient, hash string) ([]byte, error) {
	st, err := g.DownloadBinary(ctx, &rpcpb.BinaryRef{Hash: hash})
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	for {
		c, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out.Bytes(), nil
		}
		if err != nil {
			return nil, err
		}
		out.Write(c.Data)
	}
}

// TestBlobsOutliveTheHeadsDisk: on Redis, an uploaded executable is in the
// storage when the upload is acknowledged, so a GCS restarted with an empty
// directory (a new head pod) still has it, downloads it whole and keeps it
// on disk again; a piece lost from the storage is reported, not served
// short. Without BlobsInStorage the restarted GCS has lost it (the case
// this exists for).
func TestBlobsOutliveTheHeadsDisk(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv := storagetest.StartRedis(t, storagetest.Options{})
	open := func(ns string) storage.Store {
		st, err := storage.OpenRedis(ctx, storage.Config{RedisAddress: srv.Addr, Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		return st
	}
	data := make([]byte, 3*blobChunk+12345) // 4 pieces, the last one short
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for _, inStorage := range []bool{true, false} {
		ns := map[bool]string{true: "blobs-on", false: "blobs-off"}[inStorage]
		st := open(ns)
		first, err := Open(ctx, Config{Dir: t.TempDir(), Storage: st, BlobsInStorage: inStorage, Logger: quiet,
			HeartbeatTimeout: time.Hour, ReregisterTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		hash, err := uploadBlob(ctx, serveGCS(t, first), data)
		if err != nil {
			t.Fatal(err)
		}
		first.Stop()

		dir := t.TempDir() // the new head's disk: empty
		again, err := Open(ctx, Config{Dir: dir, Storage: st, BlobsInStorage: inStorage, Logger: quiet,
			HeartbeatTimeout: time.Hour, ReregisterTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		g := serveGCS(t, again)
		has, err := g.HasBinary(ctx, &rpcpb.BinaryRef{Hash: hash})
		if err != nil {
			t.Fatal(err)
		}
		if !inStorage {
			if has.Present {
				t.Fatal("without BlobsInStorage the restarted GCS has the blob: the test cannot tell")
			}
			again.Stop()
			continue
		}
		if !has.Present {
			t.Fatal("the restarted GCS does not have the uploaded executable")
		}
		got, err := downloadBlob(ctx, g, hash)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("downloaded %d bytes, uploaded %d (or different)", len(got), len(data))
		}
		if _, err := os.Stat(filepath.Join(dir, "binaries", hash)); err != nil {
			t.Fatalf("not kept on the new head's disk: %v", err)
		}
		// A second upload of the same blob does not write it again, and a
		// lost piece is an error, not a short file.
		if _, err := uploadBlob(ctx, g, data); err != nil {
			t.Fatal(err)
		}
		if err := storage.Delete(ctx, st, storage.Blobs, blobChunkKey(hash, 2)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(dir, "binaries", hash)); err != nil {
			t.Fatal(err)
		}
		if _, err := downloadBlob(ctx, g, hash); status.Code(err) != codes.DataLoss {
			t.Fatalf("a blob missing a piece: %v, want DataLoss", err)
		}
		again.Stop()
	}
}
