package proxy

import (
	"fmt"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/serve/internal/router"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// The gRPC proxy's call tests (grpc_call_test.go) are an external test
// package: their replica is the serve SDK's GRPCServer, and package serve
// imports the SDK, whose embedded cluster (runtime/cluster) runs this
// proxy. These are the proxy's insides they reach.

// RawCodec is the proxy's codec of raw messages.
type RawCodec = rawCodec

// NewTestGRPCProxy is a proxy on cfg routing by table t, and its gRPC
// server, not yet serving cfg.GRPCListener.
func NewTestGRPCProxy(cfg Config, t *routes.Table) (*Proxy, *grpc.Server) {
	p := &Proxy{cfg: cfg, routers: map[string]*router.Router{}}
	p.table.Store(&routes.Table{})
	p.update(t)
	return p, p.newGRPCServer(cfg.Auth)
}

// LearnKind records what a replica said of a method (methodKinds.learn).
func (p *Proxy) LearnKind(key, kind string) { p.kinds.learn(key, kind) }

// IsOneKind says whether the proxy takes a method for one of one message.
func (p *Proxy) IsOneKind(key string) bool { return p.kinds.isOne(key) }

// Kinds prints the methods of one message the proxy knows.
func (p *Proxy) Kinds() string {
	p.kinds.mu.Lock()
	defer p.kinds.mu.Unlock()
	return fmt.Sprint(p.kinds.one)
}
