package routes

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestKeepOnMissing(t *testing.T) {
	for _, c := range []struct {
		held, read string
		keep       bool
	}{
		{"", "", true},        // nothing known
		{"", "c2", true},      // no table was held from a known cluster
		{"c1", "", true},      // a GCS that does not say its cluster
		{"c1", "c1", true},    // same cluster: its controller has not published yet
		{"c1", "c2", false},   // another cluster: the old apps are unknown there
		{"abc", "abd", false}, // any difference
	} {
		if got := KeepOnMissing(c.held, c.read); got != c.keep {
			t.Errorf("KeepOnMissing(%q, %q) = %v, want %v", c.held, c.read, got, c.keep)
		}
	}
}

func TestClusterIDHeaderIsTheGCSs(t *testing.T) {
	if ClusterIDHeader != gcs.ClusterIDHeader {
		t.Fatalf("routes.ClusterIDHeader %q, the GCS sends %q", ClusterIDHeader, gcs.ClusterIDHeader)
	}
}

// gcsOn serves s on addr (a fixed port, so a client's connection finds the
// next GCS there) until the returned stop.
func gcsOn(t *testing.T, addr string, s *gcs.Server) (stop func()) {
	t.Helper()
	var lis net.Listener
	var err error
	for i := 0; i < 100; i++ { // the port of the GCS just stopped may take a moment to be free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.ChainUnaryInterceptor(s.UnaryInterceptor()))
	rpcpb.RegisterGcsServer(srv, s)
	go func() { _ = srv.Serve(lis) }()
	return func() { srv.Stop(); s.Stop() }
}

// waitTable waits until the watcher's table has n apps.
func waitTable(t *testing.T, w *Watcher, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(w.Current().Apps) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the watcher holds %d apps, want %d", what, len(w.Current().Apps), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A watcher keeps its table while the GCS is unreachable and when a GCS of
// the same cluster (durable storage) comes back without the key; it drops
// it when the GCS that answers is of another cluster (memory storage).
func TestWatcherAcrossGCSRestarts(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	store := storage.NewMemory() // outlives the GCS processes, like Redis
	open := func() *gcs.Server {
		s, err := gcs.Open(context.Background(), gcs.Config{Storage: store})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := open()
	stop := gcsOn(t, addr, first)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := rpcpb.NewGcsClient(conn)
	table, _ := json.Marshal(Table{Version: 1, Apps: []App{{Name: "app", RoutePrefix: "/"}}})
	if _, err := client.KvPut(context.Background(), &rpcpb.KvRequest{Namespace: Namespace, Key: TableKey, Value: table, Overwrite: true}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := NewWatcher(ctx, client, 20*time.Millisecond)
	waitTable(t, w, 1, "first read")

	// The key goes (as if its controller had not published yet): the same
	// cluster's GCS without a table leaves the watcher's table as it is.
	if _, err := client.KvDel(context.Background(), &rpcpb.KvRequest{Namespace: Namespace, Key: TableKey}); err != nil {
		t.Fatal(err)
	}
	keeps := func(what string) {
		t.Helper()
		for i := 0; i < 10; i++ { // several polls of the watcher
			time.Sleep(30 * time.Millisecond)
			if len(w.Current().Apps) != 1 {
				t.Fatalf("the watcher dropped its table %s", what)
			}
		}
	}
	keeps("when the same cluster's GCS had no table")

	// The GCS goes away, and comes back on its storage (same cluster id).
	stop()
	keeps("while the GCS was unreachable")
	second := open()
	if second.ClusterID() != first.ClusterID() {
		t.Fatalf("cluster id %s after a restart on the storage, was %s", second.ClusterID(), first.ClusterID())
	}
	stop = gcsOn(t, addr, second)
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, err := client.KvGet(context.Background(), &rpcpb.KvRequest{Namespace: Namespace, Key: TableKey})
		if err == nil && !v.Found {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the restarted GCS did not answer: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	keeps("when the restarted GCS of the same cluster had no table")
	stop()

	// Another cluster (no storage: a new cluster id): the table goes.
	third := gcs.New(gcs.Config{})
	stop = gcsOn(t, addr, third)
	defer stop()
	waitTable(t, w, 0, "a GCS of another cluster without a table")
}
