package gcs

import (
	"context"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// FuzzLoad: whatever a storage holds (a shared or corrupted Redis, a damaged
// file store) a GCS opening it either loads it or refuses it with an error —
// no panic — and one that loads answers calls. Blob index entries read on
// demand are checked the same way.
func FuzzLoad(f *testing.F) {
	f.Add(uint8(0), "job_seq", []byte("1f"))
	f.Add(uint8(2), "00000001", []byte{0x0a, 0x08, '0', '0', '0', '0', '0', '0', '0', '1'})
	f.Add(uint8(1), "n1", []byte(`{"info":"CgJuMQ==","alive":true}`))
	f.Add(uint8(4), "a1", []byte(`{"spec":"","state":1,"node":"n1","worker":"w1"}`))
	f.Add(uint8(5), "p1", []byte(`{}`))
	f.Add(uint8(3), "ns\x00key", []byte("value"))
	f.Add(uint8(6), "0000000000000000000000000000000000000000000000000000000000000000", []byte(`{"size":5,"chunks":1}`))
	f.Fuzz(func(t *testing.T, table uint8, key string, value []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		tables := append(append([]string{}, storage.Tables...), storage.BlobIndex)
		st := storage.NewMemory()
		name := tables[int(table)%len(tables)]
		if err := storage.Put(ctx, st, name, key, value); err != nil {
			return // the storage refuses it (over its limits): nothing to load
		}
		s, err := Open(ctx, Config{Storage: st, BlobsInStorage: true, Dir: t.TempDir(), Logger: quiet,
			HeartbeatTimeout: time.Hour, ReregisterTimeout: time.Hour})
		if err != nil {
			return
		}
		defer s.Stop()
		if _, err := s.GetJobs(ctx, &rpcpb.Empty{}); err != nil {
			t.Fatalf("a GCS that loaded the storage does not list jobs: %v", err)
		}
		if _, err := s.ListActors(ctx, &rpcpb.Empty{}); err != nil {
			t.Fatalf("a GCS that loaded the storage does not list actors: %v", err)
		}
		_, _ = s.HasBinary(ctx, &rpcpb.BinaryRef{Hash: key})
		_, _, _ = s.storedBlob(ctx, key)
	})
}
