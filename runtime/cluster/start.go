package cluster

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/jobs"
	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/node"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/controller"
	"github.com/goray-dev/goray/runtime/serve/proxy"
)

// Cluster is one running node of a cluster (see Config): a head or a
// worker node with its parts.
type Cluster struct {
	// Node is this node's manager.
	Node *node.Node
	// GCS is the head's GCS (nil on a worker node).
	GCS *gcs.Server

	cfg      Config
	sec      auth.Config
	log      *log.Logger
	ip       string
	head     *Head // nil on a worker node
	gcsAddr  string
	nodeAddr string
	conn     *grpc.ClientConn
	gcs      rpcpb.GcsClient
	tmpDir   string // the session directory Start made ("" when given)

	servers   []*http.Server
	dashAddr  string
	agentAddr string
	metricsAt string
	jobs      *jobs.Manager
	ctl       *controller.Controller
	px        *proxy.Proxy
	metrics   *metrics.Registry // nil: the metrics port is off

	stopOnce sync.Once
}

// Start runs a node with the parts cfg turns on, in the order `goray
// start` has always started them: the GCS and the node manager (head) or
// the node manager joining cfg.GcsAddress, then the dashboard with the job
// manager and the serve controller (head), the node agent, the serve
// proxies and the metrics exporter. ctx bounds the start (the job manager
// reads the jobs a previous head left). On an error, what started is
// stopped.
func Start(ctx context.Context, cfg Config) (c *Cluster, err error) {
	c = &Cluster{cfg: cfg, sec: cfg.Security}
	c.log = c.cfg.logger()
	c.cfg.Node.Security = cfg.Security
	if c.cfg.Node.Dir == "" {
		d, err := os.MkdirTemp("", "goray-session-")
		if err != nil {
			return nil, err
		}
		c.cfg.Node.Dir, c.tmpDir = d, d
	}
	if c.cfg.TempDir == "" {
		c.cfg.TempDir = c.cfg.Node.Dir
	}
	if c.cfg.Node.IP == "" {
		c.cfg.Node.IP = "127.0.0.1"
		if !cfg.Head {
			c.cfg.Node.IP = LocalIPFor(cfg.GcsAddress)
		}
	}
	if c.cfg.HeartbeatTimeout > 0 && c.cfg.Node.HeartbeatInterval == 0 {
		c.cfg.Node.HeartbeatInterval = c.cfg.HeartbeatTimeout / 5
	}
	c.ip = c.cfg.Node.IP
	defer func() {
		if err != nil {
			c.Stop()
			c = nil
		}
	}()
	if cfg.Head {
		h, err := StartHead(HeadConfig{GcsPort: cfg.GcsPort, HeartbeatTimeout: cfg.HeartbeatTimeout, Node: c.cfg.Node,
			Storage: cfg.Storage, StorageTimeout: cfg.StorageTimeout})
		if err != nil {
			return c, err
		}
		c.head, c.Node, c.GCS, c.gcsAddr = h, h.Node, h.GCS, h.GcsAddress
	} else {
		ncfg := c.cfg.Node
		ncfg.GcsAddress = cfg.GcsAddress
		n, err := node.Start(ncfg)
		if err != nil {
			return c, err
		}
		c.Node, c.gcsAddr = n, cfg.GcsAddress
	}
	c.nodeAddr = c.Node.Address()
	if c.conn, err = Dial(c.gcsAddr, c.sec); err != nil {
		return c, err
	}
	c.gcs = rpcpb.NewGcsClient(c.conn)
	bind := rpcutil.BindHost(c.ip) // several nodes share this machine on 127.0.0.x
	// The agent's port is taken first when it is any: the dashboard's log
	// API reaches the agent on it.
	agentPort := c.cfg.AgentPort
	var agentLis net.Listener
	if agentPort == AnyPort {
		if agentLis, err = listenAPI(bind, agentPort, "node agent"); err != nil {
			return c, err
		}
		agentPort = agentLis.Addr().(*net.TCPAddr).Port
	}
	if _, on := listenPort(c.cfg.MetricsPort); on {
		c.metrics = c.nodeMetrics()
	}
	if _, on := listenPort(c.cfg.DashboardPort); on && cfg.Head {
		if err := c.startDashboard(ctx, agentPort); err != nil {
			if agentLis != nil {
				_ = agentLis.Close()
			}
			return c, err
		}
	}
	if agentLis == nil {
		if agentLis, err = listenAPI(bind, agentPort, "node agent"); err != nil {
			return c, err
		}
	}
	c.startAgent(agentLis, bind)
	c.startServeProxy(bind)
	if c.metrics != nil {
		lis, err := listenAPI(bind, c.cfg.MetricsPort, "metrics")
		if err != nil {
			c.log.Printf("metrics disabled: %v", err)
		} else {
			c.metricsAt = c.reachable(c.serveAPI(lis, bind, c.metrics.Handler(), "metrics", auth.HTTPPolicy{}))
		}
	}
	return c, nil
}

// reachable is addr (HOST:PORT, "" for a part that is off) with this
// node's IP for a host that binds every interface.
func (c *Cluster) reachable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		return net.JoinHostPort(c.ip, port)
	}
	return addr
}

// GcsAddress is the cluster's GCS (HOST:PORT).
func (c *Cluster) GcsAddress() string { return c.gcsAddr }

// NodeAddress is this node's manager (HOST:PORT).
func (c *Cluster) NodeAddress() string { return c.nodeAddr }

// IP is this node's IP.
func (c *Cluster) IP() string { return c.ip }

// SessionDir is this node's session directory (Config.Node.Dir).
func (c *Cluster) SessionDir() string { return c.cfg.Node.Dir }

// DashboardAddress is where the head's dashboard listens (HOST:PORT; ""
// when it is off or this is a worker node).
func (c *Cluster) DashboardAddress() string { return c.dashAddr }

// AgentAddress is where this node's agent listens ("" when off).
func (c *Cluster) AgentAddress() string { return c.agentAddr }

// MetricsAddress is where this node's Prometheus exporter listens ("" when
// off).
func (c *Cluster) MetricsAddress() string { return c.metricsAt }

// ServeAddress is where this node's serve HTTP proxy listens ("" when off).
func (c *Cluster) ServeAddress() string {
	if c.px == nil {
		return ""
	}
	return c.reachable(c.px.Address())
}

// ServeGRPCAddress is where this node's serve gRPC proxy listens ("" when
// off).
func (c *Cluster) ServeGRPCAddress() string {
	if c.px == nil || c.px.GRPCAddress() == "" {
		return ""
	}
	return c.reachable(c.px.GRPCAddress())
}

// Done is closed when this node, drained (DrainNode), reached its
// deadline: the node is to stop.
func (c *Cluster) Done() <-chan struct{} { return c.Node.Done() }

// Stop stops the node's parts, the node manager (killing its workers) and,
// on a head, the GCS; it removes the session directory Start made. Running
// jobs get their stop grace; serve replicas outlive a head whose GCS
// storage is durable.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for _, s := range c.servers {
			_ = s.Close()
		}
		if c.jobs != nil {
			c.jobs.Close()
		}
		c.stopServe()
		if c.conn != nil {
			_ = c.conn.Close()
		}
		switch {
		case c.head != nil:
			c.head.Stop()
		case c.Node != nil:
			c.Node.Stop()
		}
		if c.tmpDir != "" {
			_ = os.RemoveAll(c.tmpDir)
		}
	})
}
