package core

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/cluster/bare"
	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// lifetimeHead starts a bare head (GCS and node manager: runtime/cluster
// imports this package) in this process with a 4 MB store, so a few 3 MB
// objects spill.
func lifetimeHead(t *testing.T) (*bare.Head, string) {
	t.Helper()
	dir := t.TempDir()
	h, err := bare.StartHead(bare.HeadConfig{Node: node.Config{Resources: map[string]float64{"CPU": 1},
		StoreCapacity: 4 << 20, Dir: dir, HeartbeatInterval: 200 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Stop)
	return h, filepath.Join(dir, "spill")
}

// startDriver starts a core worker that talks to the head's node over gRPC
// (as a driver process does), so its objects reach the store with their owner.
func startDriver(t *testing.T, h *bare.Head) *Worker {
	t.Helper()
	w, err := Start(Config{GcsAddress: h.GcsAddress, NodeAddress: h.Node.Address(), NodeID: h.Node.ID()})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// putObjects puts n objects of 3 MB and returns their handles.
func putObjects(t *testing.T, w *Worker, n int) []*Handle {
	t.Helper()
	var hs []*Handle
	for i := range n {
		h, err := w.Put(context.Background(), bytes.Repeat([]byte{byte('a' + i)}, 3<<20))
		if err != nil {
			t.Fatal(err)
		}
		hs = append(hs, h)
	}
	return hs
}

func spillFiles(t *testing.T, dir string) int {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return len(ents)
}

// waitStoreEmpty polls until the node's store holds no object and the spill
// directory no file; it returns how long that took.
func waitStoreEmpty(t *testing.T, h *bare.Head, spill string, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		st := h.Node.Store.Stats()
		files := spillFiles(t, spill)
		if st.Objects == 0 && st.Used == 0 && st.SpilledBytes == 0 && files == 0 {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("store not freed within %s: %+v, %d spill files", within, st, files)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantStored(t *testing.T, h *bare.Head, spill string, objects int64) {
	t.Helper()
	st := h.Node.Store.Stats()
	if st.Objects != objects || st.SpilledObjects == 0 || int64(spillFiles(t, spill)) != st.SpilledObjects {
		t.Fatalf("want %d objects, some spilled to files: %+v, %d files", objects, st, spillFiles(t, spill))
	}
}

// A driver that dies without Shutdown (its server gone, as when the process
// is killed) leaves objects nobody would free: the node finds the owner gone
// and frees them, spill files included; a borrower's Get then reports the
// owner's death.
func TestObjectsOfADeadOwnerAreFreed(t *testing.T) {
	h, spill := lifetimeHead(t)
	owner := startDriver(t, h)
	borrower := startDriver(t, h)
	defer borrower.Shutdown()
	hs := putObjects(t, owner, 3)
	wantStored(t, h, spill, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	got, err := borrower.Get(ctx, hs[2].ID, hs[2].Owner)
	if err != nil || len(got) != 3<<20 || got[0] != 'c' {
		t.Fatalf("borrowed get while the owner lives: %d bytes, %v", len(got), err)
	}

	// The process "dies": nothing listens at its address any more, and it
	// sends nothing (no FreeObjects, no MarkJobFinished).
	owner.srv.Stop()
	defer owner.pool.Close()
	defer owner.stopAll()
	took := waitStoreEmpty(t, h, spill, 10*time.Second)
	t.Logf("objects of a dead owner freed %s after its death", took.Round(10*time.Millisecond))

	_, err = borrower.Get(ctx, hs[0].ID, hs[0].Owner)
	var died *OwnerDiedError
	if !errors.As(err, &died) || died.Owner != owner.addr {
		t.Fatalf("borrowed get after the owner died: %v; want OwnerDiedError", err)
	}
}

// A driver that shuts down frees what it owns before Shutdown returns.
func TestShutdownFreesOwnedObjects(t *testing.T) {
	h, spill := lifetimeHead(t)
	other := startDriver(t, h)
	defer other.Shutdown()
	kept := putObjects(t, other, 1)
	w := startDriver(t, h)
	putObjects(t, w, 3)
	wantStored(t, h, spill, 4)
	w.Shutdown()
	st := h.Node.Store.Stats()
	if st.Objects != 1 || !h.Node.Store.Contains(kept[0].ID) || int64(spillFiles(t, spill)) != st.SpilledObjects {
		t.Fatalf("after Shutdown: %+v, %d spill files; want only the other driver's object", st, spillFiles(t, spill))
	}
}

// Task results are owned by the caller, not by the worker that stored them.
func TestStoreReturnRecordsTheOwner(t *testing.T) {
	h, _ := lifetimeHead(t)
	w := startDriver(t, h)
	defer w.Shutdown()
	if _, err := w.storeReturn(context.Background(), "result-1", "10.9.9.9:1", Return{Data: bytes.Repeat([]byte("r"), 200<<10)}); err != nil {
		t.Fatal(err)
	}
	if got := h.Node.Store.Owners(); got["10.9.9.9:1"] != "result-1" {
		t.Fatalf("owners: %v", got)
	}
}

func TestIsOwner(t *testing.T) {
	w := &Worker{}
	for id, want := range map[string]bool{ids.Seq(): true, ids.New(): false} {
		r, err := w.IsOwner(context.Background(), &rpcpb.IsOwnerRequest{ObjectId: id})
		if err != nil || r.Owner != want {
			t.Errorf("IsOwner(%s) = %v, %v; want %v", id, r, err, want)
		}
	}
	if _, err := w.IsOwner(context.Background(), &rpcpb.IsOwnerRequest{}); err == nil {
		t.Error("IsOwner without an id must fail")
	}
}
