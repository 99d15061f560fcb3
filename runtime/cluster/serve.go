package cluster

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/goray-dev/goray/runtime/metrics"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/controller"
	"github.com/goray-dev/goray/runtime/serve/proxy"
)

// A node's part of serve: the HTTP proxy (and gRPC proxy) on every node
// and, on the head, the serve controller behind the dashboard's serve REST
// API.

// nodeIDOf finds the id of the node manager at addr.
func nodeIDOf(gcs rpcpb.GcsClient, addr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return ""
	}
	for _, n := range v.Nodes {
		if n.Address == addr {
			return n.NodeId
		}
	}
	return ""
}

// startServeController mounts the serve REST API on the head's dashboard
// mux. Its replicas outlive the head when the GCS has a durable storage.
func (c *Cluster) startServeController(mux *http.ServeMux) {
	c.ctl = controller.New(controller.Config{GCS: c.gcs, GcsAddress: c.gcsAddr, NodeAddress: c.nodeAddr, NodeID: nodeIDOf(c.gcs, c.nodeAddr),
		NodeIP: c.ip, Logger: c.log, Security: c.sec, Durable: c.cfg.Storage.Backend() != "memory", DefaultBinary: c.cfg.ServeBinary})
	c.ctl.Register(mux)
	if c.metrics != nil {
		c.metrics.Registerer().MustRegister(metrics.NewReplicaCollector(c.ctl.ReplicaStates))
	}
}

// startServeProxy starts this node's proxy on bind:ServePort (off: none),
// and its gRPC proxy on bind:ServeGRPCPort (off: none); a port already
// taken is logged, not fatal. The head's proxy serves under proxy_location
// HeadOnly. The gRPC proxy requires the token and serves with the TLS of
// the cluster's Security.
func (c *Cluster) startServeProxy(bind string) {
	port, on := listenPort(c.cfg.ServePort)
	if !on {
		return
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err != nil {
		c.log.Printf("serve proxy disabled: %v", err)
		return
	}
	var glis net.Listener
	if grpcPort, on := listenPort(c.cfg.ServeGRPCPort); on {
		if glis, err = net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(grpcPort))); err != nil {
			c.log.Printf("serve gRPC proxy disabled: %v", err)
			glis = nil
		}
	}
	id := nodeIDOf(c.gcs, c.nodeAddr)
	var pm *metrics.Proxy
	var gm *metrics.GRPCProxy
	if c.metrics != nil {
		pm = metrics.NewProxy(c.metrics.Registerer(), id, c.ip)
		if glis != nil {
			gm = metrics.NewGRPCProxy(c.metrics.Registerer(), id, c.ip)
		}
	}
	c.px = proxy.Start(proxy.Config{GCS: c.gcs, NodeID: id, NodeIP: c.ip, InstanceID: c.cfg.Node.InstanceID, Head: c.cfg.Head,
		Listener: lis, Logger: c.log, Metrics: pm, GRPCListener: glis, GRPCMetrics: gm, Auth: c.sec})
	c.log.Printf("serve proxy listening on %s", lis.Addr())
	if glis != nil {
		c.log.Printf("serve gRPC proxy listening on %s", glis.Addr())
	}
}

// DrainServe makes this node's serve proxy answer as draining (failing
// /-/healthz) while it still serves, ahead of Stop; false when the node
// runs no proxy.
func (c *Cluster) DrainServe() bool {
	if c.px == nil {
		return false
	}
	c.px.Drain()
	return true
}

func (c *Cluster) stopServe() {
	if c.px != nil {
		c.px.Close()
	}
	if c.ctl != nil {
		c.ctl.Close()
	}
}
