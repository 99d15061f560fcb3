// Package cluster assembles the runtime's nodes in the current process.
// Start runs one node the way `goray start` does: on a head the GCS, its
// node manager, the dashboard with the job, state, log and serve REST APIs,
// and the serve controller; on every node the node agent, the serve HTTP
// and gRPC proxies and the Prometheus exporter, each HTTP API behind the
// auth layer. `goray start` and the SDK's embedded local cluster
// (ray.Init without an address) both call it, so they serve the same APIs.
// StartHead is a bare head (the GCS and its node manager, package bare)
// that tests use.
//
// The files: config.go (Config, the ports), start.go (Start, the node's
// parts in order, Stop), head.go (StartHead),
// dashboard.go (the head's dashboard, job manager and serve controller),
// serve.go (the serve controller and proxy), metrics.go (the node's
// Prometheus registry), http.go (HTTP servers behind the auth layer).
package cluster

import (
	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
)

// Dial makes a client connection to a runtime gRPC server (a GCS, a node
// manager) with sec's credentials and the runtime's message limits, for
// tools outside the runtime (the CLI, the dashboard, the autoscaler). The
// caller closes it.
func Dial(addr string, sec auth.Config) (*grpc.ClientConn, error) { return rpcutil.Dial(addr, sec) }
