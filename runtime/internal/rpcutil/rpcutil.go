// Package rpcutil holds gRPC plumbing shared by the runtime's processes: a
// cache of client connections by address, server options, and the choice of
// the host a server binds to.
package rpcutil

import (
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/net/netutil"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/keepalive"

	"github.com/goray-dev/goray/runtime/auth"
)

// MaxMsgSize bounds one gRPC message; objects move in smaller chunks.
const MaxMsgSize = 64 << 20

// ChunkSize is the size of object and binary chunks in streams.
const ChunkSize = 4 << 20

// HandshakeTimeout bounds a new connection's TLS and HTTP/2 handshake: a
// peer that connects and says nothing is dropped then (gRPC's default
// holds it 120 s).
const HandshakeTimeout = 10 * time.Second

// MaxConns caps the connections one listener holds at once; more wait in
// the kernel's backlog. Far above what a cluster of thousands of workers
// opens to one process, far below the file descriptors a node has.
const MaxConns = 16384

// ServerOptions are the options every runtime gRPC server uses, with sec's
// token check and TLS.
func ServerOptions(sec auth.Config) []grpc.ServerOption {
	return append([]grpc.ServerOption{
		grpc.MaxRecvMsgSize(MaxMsgSize), grpc.MaxSendMsgSize(MaxMsgSize),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.InitialWindowSize(8 << 20), grpc.InitialConnWindowSize(16 << 20),
		grpc.ConnectionTimeout(HandshakeTimeout),
	}, sec.ServerOptions()...)
}

// Pool caches client connections by address. Safe for concurrent use.
type Pool struct {
	sec   auth.Config
	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// NewPool returns an empty pool whose connections carry sec's credentials.
func NewPool(sec auth.Config) *Pool { return &Pool{sec: sec, conns: map[string]*grpc.ClientConn{}} }

// Get returns a (lazily connecting) connection to addr.
func (p *Pool) Get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := Dial(addr, p.sec)
	if err != nil {
		return nil, err
	}
	p.conns[addr] = c
	return c, nil
}

// Dial makes a (lazily connecting) connection to addr outside any pool,
// for a peer talked to once: the caller closes it. A pooled connection to a
// process that then exits would stay in the pool for good. The connection
// carries sec's credentials.
func Dial(addr string, sec auth.Config) (*grpc.ClientConn, error) {
	return grpc.NewClient(addr, append(sec.DialOptions(),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMsgSize), grpc.MaxCallSendMsgSize(MaxMsgSize)),
		grpc.WithInitialWindowSize(8<<20), grpc.WithInitialConnWindowSize(16<<20),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		// A restarted head must find its nodes and drivers back within
		// seconds: gRPC's default reconnect backoff grows to 120 s.
		grpc.WithConnectParams(grpc.ConnectParams{MinConnectTimeout: 5 * time.Second,
			Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 2 * time.Second}}),
	)...)
}

// Has reports whether the pool holds a connection to addr.
func (p *Pool) Has(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.conns[addr]
	return ok
}

// Drop closes and forgets the connection to addr (after the peer died).
func (p *Pool) Drop(addr string) {
	p.mu.Lock()
	c, ok := p.conns[addr]
	delete(p.conns, addr)
	p.mu.Unlock()
	if ok {
		_ = c.Close()
	}
}

// Close closes every connection.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for a, c := range p.conns {
		_ = c.Close()
		delete(p.conns, a)
	}
}

// BindHost is the host a server of a node with this IP listens on: the IP
// itself for loopback addresses (so several nodes share a machine on
// 127.0.0.x), every interface otherwise (pods are reached on their pod IP and
// probed on localhost).
func BindHost(ip string) string {
	if p := net.ParseIP(ip); p != nil && p.IsLoopback() {
		return ip
	}
	return "0.0.0.0"
}

// Listen opens a TCP listener on host:port (port 0 = any), holding at most
// MaxConns connections at once.
func Listen(host string, port int) (net.Listener, error) { return listen(host, port, MaxConns) }

func listen(host string, port, max int) (net.Listener, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, itoa(port)))
	if err != nil {
		return nil, err
	}
	return netutil.LimitListener(l, max), nil
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}

// ListenUnix opens a unix socket named name in the node's session directory
// (its "sockets" folder), for processes on the same machine: a hop on it
// costs a fraction of one over TCP loopback. A core worker's socket is
// "worker-<worker id>.sock": its node removes it when the worker exits. None (nil, "") when there is no
// session directory, the path is too long for a socket address, or the
// socket cannot be made: callers then keep to TCP.
func ListenUnix(sessionDir, name string) (net.Listener, string) {
	if sessionDir == "" {
		return nil, ""
	}
	dir := filepath.Join(sessionDir, "sockets")
	path := filepath.Join(dir, name)
	if len(path) >= 100 { // sun_path holds 108 bytes on Linux, 104 elsewhere
		return nil, ""
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, ""
	}
	_ = os.Remove(path) // left by a killed earlier process of the same name
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, ""
	}
	return l, path
}

// LocalSocket reports whether path is a unix socket on this machine: a peer
// on another machine may name a path that does not exist here.
func LocalSocket(path string) bool {
	if path == "" {
		return false
	}
	fi, err := os.Stat(path)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// The GCS's identity headers, sent on every reply (and the cluster id sent
// back by core workers on their requests): one home for the names the GCS,
// nodes, core workers and serve's route watcher agree on.
const (
	// IncarnationHeader is new each time a GCS starts.
	IncarnationHeader = "goray-gcs-incarnation"
	// ClusterIDHeader names the GCS's cluster: random once, then kept by a
	// durable storage, so a GCS restarted without one has a new id.
	ClusterIDHeader = "goray-cluster-id"
)
