package serve

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type testModel struct {
	id       string
	unloaded *atomic.Int32
}

func (m testModel) Close() error { m.unloaded.Add(1); return nil }

// The cache loads each model once however many ask at once, keeps the
// most recently used within its bound, unloads what it evicts, and does
// not keep a failed load.
func TestModelsLoadOnceAndEvictLeastRecentlyUsed(t *testing.T) {
	var loads sync.Map // id -> *atomic.Int32
	var unloaded atomic.Int32
	release := make(chan struct{})
	m := Multiplexed(2, func(ctx context.Context, id string) (testModel, error) {
		n, _ := loads.LoadOrStore(id, new(atomic.Int32))
		n.(*atomic.Int32).Add(1)
		if id == "bad" {
			return testModel{}, errors.New("no such model")
		}
		if id == "a" {
			<-release
		}
		return testModel{id: id, unloaded: &unloaded}, nil
	})
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if got, err := m.Get(ctx, "a"); err != nil || got.id != "a" {
				t.Errorf("get a: %v %v", got, err)
			}
		})
	}
	time.Sleep(50 * time.Millisecond) // all eight wait on the one load
	close(release)
	wg.Wait()
	count := func(id string) int32 {
		n, ok := loads.Load(id)
		if !ok {
			return 0
		}
		return n.(*atomic.Int32).Load()
	}
	if count("a") != 1 {
		t.Fatalf("a loaded %d times by 8 concurrent gets", count("a"))
	}
	_, _ = m.Get(ctx, "b")
	_, _ = m.Get(ctx, "a") // a is now the most recently used
	_, _ = m.Get(ctx, "c") // evicts b
	if ids := m.IDs(); !slices.Equal(ids, []string{"a", "c"}) {
		t.Fatalf("held %v, want [a c]", ids)
	}
	deadline := time.Now().Add(5 * time.Second)
	for unloaded.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if unloaded.Load() != 1 {
		t.Fatalf("%d models unloaded, want 1 (b)", unloaded.Load())
	}
	if _, err := m.Get(ctx, "bad"); err == nil {
		t.Fatal("a failed load returned no error")
	}
	if _, err := m.Get(ctx, "bad"); err == nil || count("bad") != 2 {
		t.Fatalf("a failed load was kept: %d loads, %v", count("bad"), err)
	}
	if ids := m.IDs(); !slices.Equal(ids, []string{"a", "c"}) {
		t.Fatalf("held %v after failed loads, want [a c]", ids)
	}
	if _, err := m.Get(ctx, ""); err == nil {
		t.Fatal("a get without a model id succeeded")
	}
	if held := heldModels(); !slices.Contains(held, "a") || !slices.Contains(held, "c") {
		t.Fatalf("the replica reports %v", held)
	}
	runtime.KeepAlive(m)
}

func TestMultiplexedModelIDReadsTheHeader(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("serve_multiplexed_model_id", "m7")
	if got := MultiplexedModelID(r); got != "m7" {
		t.Fatalf("model id %q", got)
	}
}
