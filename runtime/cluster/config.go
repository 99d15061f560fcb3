package cluster

import (
	"log"
	"net"
	"os"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/node"
)

// AnyPort is a port of Config's HTTP parts (DashboardPort, AgentPort,
// MetricsPort, ServePort, ServeGRPCPort) that listens on a free one; the
// Cluster's accessors say which. 0 (or any other port below 1) leaves that
// part off.
const AnyPort = -1

// Config is one node as `goray start` runs it: a head (Head) or a worker
// node joining GcsAddress.
//
// The HTTP parts take ports: 0 leaves a part off, AnyPort picks a free
// port. The GCS and the node manager always run: their port 0 picks a free
// one. A head's dashboard (DashboardPort) carries the job API, the state
// and log APIs and the serve controller's REST API. Every HTTP part
// requires Security's token except the health probes (and the dashboard's
// web page shell and login, the serve proxy's ingress, which applications
// guard themselves).
type Config struct {
	// Head runs the GCS here, on GcsPort, with the head's parts.
	Head bool
	// GcsAddress is the head's GCS (HOST:PORT) a worker node joins.
	GcsAddress string
	// GcsPort is the head's GCS port (0: a free one).
	GcsPort int
	// HeartbeatTimeout is how long the GCS waits for a silent node before
	// it counts it dead (0: the GCS's default); nodes heartbeat every fifth
	// of it unless Node.HeartbeatInterval says otherwise.
	HeartbeatTimeout time.Duration
	// Storage is where a head's GCS keeps its tables (see HeadConfig); a
	// durable storage also keeps serve's replicas across head restarts.
	Storage storage.Config
	// StorageTimeout bounds waiting for the storage (default 60 s).
	StorageTimeout time.Duration

	// Node is the node manager: its IP (default 127.0.0.1 on a head, the
	// address this machine reaches the head from on a worker node), port,
	// resources, labels, object store and session directory (Dir; default
	// a temporary directory that Stop removes). Its Logger logs for every
	// part (default: the standard error); its Security is Security.
	Node node.Config
	// Security is the cluster's credentials: every server requires them
	// and every client presents them.
	Security auth.Config
	// TempDir is the root of the files a head keeps besides its session
	// directory: the job manager's logs and working directories
	// (TempDir/logs, TempDir/jobs), which the log API lists with the
	// session's logs (default: Node.Dir).
	TempDir string

	// DashboardHost is the dashboard's bind host ("" binds every
	// interface, as net.Listen); DashboardPort its port (head only).
	DashboardHost string
	DashboardPort int
	// AgentPort is the node agent's port (/api/local_raylet_healthz and
	// the node's logs). A head's log API reaches every node's agent on
	// this port: AnyPort suits a one-node cluster only.
	AgentPort int
	// MetricsPort is the Prometheus exporter's port. A port already taken
	// is logged and the node runs without it.
	MetricsPort int
	// ServePort and ServeGRPCPort are the serve HTTP proxy's and gRPC
	// proxy's ports (the gRPC proxy runs only with the HTTP one). A port
	// already taken is logged and the node runs without that proxy.
	ServePort, ServeGRPCPort int
	// ServeBinary is the executable whose applications a serve config's
	// import_path names when its runtime_env has no "binary" (see
	// controller.Config.DefaultBinary).
	ServeBinary string
}

// logger is where the node's parts log.
func (c *Config) logger() *log.Logger {
	if c.Node.Logger == nil {
		c.Node.Logger = log.New(os.Stderr, "[goray] ", log.LstdFlags)
	}
	return c.Node.Logger
}

// LocalIPFor is this machine's address on the route to target (HOST:PORT),
// 127.0.0.1 when there is none: a worker node's IP when none is given.
func LocalIPFor(target string) string {
	c, err := net.Dial("udp", target)
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}
