package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/metrics"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/controller"
	"github.com/goray-dev/goray/runtime/serve/proxy"
)

// serveRuntime is a node's part of serve: the HTTP proxy on every node and,
// on the head, the serve controller behind the dashboard's serve REST API.
type serveRuntime struct {
	ctl *controller.Controller
	px  *proxy.Proxy
	// metrics is the node's registry (nil: the metrics port is off).
	metrics *metrics.Registry
}

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
// mux. durable: the GCS has a durable storage (replicas outlive the head).
func (s *serveRuntime) startServeController(mux *http.ServeMux, gcs rpcpb.GcsClient, gcsAddr, nodeAddr, ip string, sec auth.Config, logger *log.Logger,
	durable bool) {
	s.ctl = controller.New(controller.Config{GCS: gcs, GcsAddress: gcsAddr, NodeAddress: nodeAddr, NodeID: nodeIDOf(gcs, nodeAddr),
		NodeIP: ip, Logger: logger, Security: sec, Durable: durable})
	s.ctl.Register(mux)
	if s.metrics != nil {
		s.metrics.Registerer().MustRegister(metrics.NewReplicaCollector(s.ctl.ReplicaStates))
	}
}

// startServeProxy starts this node's proxy on bind:port (0 disables), and
// its gRPC proxy on bind:grpcPort (0: none); a port already taken is logged,
// not fatal. head: this is the head node (whose proxy serves under
// proxy_location HeadOnly). The gRPC proxy requires sec's token and serves
// with its TLS.
func (s *serveRuntime) startServeProxy(gcs rpcpb.GcsClient, nodeAddr, ip, bind string, port, grpcPort int, head bool, sec auth.Config,
	logger *log.Logger) {
	if port <= 0 {
		return
	}
	lis, err := net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(port)))
	if err != nil {
		logger.Printf("serve proxy disabled: %v", err)
		return
	}
	var glis net.Listener
	if grpcPort > 0 {
		if glis, err = net.Listen("tcp", net.JoinHostPort(bind, strconv.Itoa(grpcPort))); err != nil {
			logger.Printf("serve gRPC proxy disabled: %v", err)
			glis = nil
		}
	}
	id := nodeIDOf(gcs, nodeAddr)
	var pm *metrics.Proxy
	var gm *metrics.GRPCProxy
	if s.metrics != nil {
		pm = metrics.NewProxy(s.metrics.Registerer(), id, ip)
		if glis != nil {
			gm = metrics.NewGRPCProxy(s.metrics.Registerer(), id, ip)
		}
	}
	s.px = proxy.Start(proxy.Config{GCS: gcs, NodeID: id, NodeIP: ip, InstanceID: os.Getenv("RAY_CLOUD_INSTANCE_ID"), Head: head,
		Listener: lis, Logger: logger, Metrics: pm, GRPCListener: glis, GRPCMetrics: gm, Auth: sec})
	logger.Printf("serve proxy listening on %s", lis.Addr())
	if glis != nil {
		logger.Printf("serve gRPC proxy listening on %s", glis.Addr())
	}
}

func (s *serveRuntime) close() {
	if s.px != nil {
		s.px.Close()
	}
	if s.ctl != nil {
		s.ctl.Close()
	}
}
