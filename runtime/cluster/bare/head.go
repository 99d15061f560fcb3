// Package bare starts a bare head in this process: the GCS and the head's
// node manager, without the dashboard, the job manager, serve or the
// agent. runtime/cluster assembles whole nodes around it (cluster.Start);
// the tests of packages below that assembly (runtime/core's, which it
// imports) start their heads here.
package bare

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// HeadConfig configures a head: the GCS on GcsPort plus the node manager.
type HeadConfig struct {
	GcsPort          int
	HeartbeatTimeout time.Duration
	Node             node.Config
	// Storage is where the GCS keeps its tables: Redis or an embedded
	// file make a restarted head load them back; the zero value keeps
	// them in memory only.
	Storage storage.Config
	// StorageTimeout bounds waiting for the storage at the start (Redis
	// may come up after the head): 60 s by default.
	StorageTimeout time.Duration
}

// Head is a running GCS and head node manager.
type Head struct {
	GCS        *gcs.Server
	Node       *node.Node
	GcsAddress string
	srv        *grpc.Server
	tmpDir     string
	store      storage.Store
}

// StartHead starts the GCS and the head's node manager.
func StartHead(cfg HeadConfig) (*Head, error) {
	ip := cfg.Node.IP
	tmp := ""
	if ip == "" {
		ip = "127.0.0.1"
		cfg.Node.IP = ip
	}
	if cfg.Node.Dir == "" {
		d, err := os.MkdirTemp("", "goray-session-")
		if err != nil {
			return nil, err
		}
		cfg.Node.Dir = d
		tmp = d
	}
	logger := cfg.Node.Logger
	if logger == nil {
		logger = log.New(os.Stderr, "[gcs] ", log.LstdFlags)
	}
	timeout := cfg.StorageTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var store storage.Store
	binDir := cfg.Node.Dir
	if cfg.Storage.Backend() != "memory" {
		st, err := storage.Open(ctx, cfg.Storage)
		if err != nil {
			return nil, fmt.Errorf("GCS storage: %w", err)
		}
		store = st
		if f, ok := st.(*storage.File); ok {
			binDir = f.Dir() // executables and packages live on the store's volume too
		}
	}
	closeStore := func() {
		if store != nil {
			_ = store.Close()
		}
	}
	// Executables and packages outlive the head with the storage: on the
	// file store's volume, or in Redis itself.
	blobsInStorage := store != nil && store.Durable() && binDir == cfg.Node.Dir
	g, err := gcs.Open(ctx, gcs.Config{HeartbeatTimeout: cfg.HeartbeatTimeout, Dir: binDir, Logger: logger, Security: cfg.Node.Security,
		Storage: store, BlobsInStorage: blobsInStorage})
	if err != nil {
		closeStore()
		return nil, err
	}
	lis, err := rpcutil.Listen(rpcutil.BindHost(ip), cfg.GcsPort)
	if err != nil {
		g.Stop()
		closeStore()
		return nil, fmt.Errorf("GCS listen on port %d: %w", cfg.GcsPort, err)
	}
	opts := append(rpcutil.ServerOptions(cfg.Node.Security),
		grpc.ChainUnaryInterceptor(g.UnaryInterceptor()), grpc.ChainStreamInterceptor(g.StreamInterceptor()))
	srv := grpc.NewServer(opts...)
	rpcpb.RegisterGcsServer(srv, g)
	go srv.Serve(lis)
	go g.Run()
	h := &Head{GCS: g, srv: srv, GcsAddress: net.JoinHostPort(ip, strconv.Itoa(lis.Addr().(*net.TCPAddr).Port)), tmpDir: tmp, store: store}
	cfg.Node.GcsAddress = h.GcsAddress
	cfg.Node.IsHead = true
	if cfg.HeartbeatTimeout > 0 && cfg.Node.HeartbeatInterval == 0 {
		cfg.Node.HeartbeatInterval = cfg.HeartbeatTimeout / 5
	}
	n, err := node.Start(cfg.Node)
	if err != nil {
		h.Stop()
		return nil, err
	}
	h.Node = n
	return h, nil
}

// Stop stops the node manager (killing its workers) and the GCS.
func (h *Head) Stop() {
	if h.Node != nil {
		h.Node.Stop()
	}
	h.GCS.Stop()
	done := make(chan struct{})
	go func() { h.srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		h.srv.Stop()
	}
	if h.store != nil {
		_ = h.store.Close()
	}
	if h.tmpDir != "" {
		_ = os.RemoveAll(h.tmpDir)
	}
}
