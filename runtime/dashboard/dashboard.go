// Package dashboard is the head's HTTP server on :8265 (Ray's dashboard port)
// and the per-node agent server on :52365. It serves the health endpoints
// KubeRay probes, /api/version and the cluster status as JSON; other
// components (the job and serve APIs) mount their handlers on Server.Mux.
package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"google.golang.org/protobuf/encoding/protojson"

	"github.com/goray-dev/goray/runtime/dashboard/ui"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Version is the runtime version reported by /api/version.
const Version = "0.1.0"

// The health endpoints KubeRay's probes call: the only paths that answer
// without the cluster's token.
const (
	HeadHealthPath = "/api/gcs_healthz"
	NodeHealthPath = "/api/local_raylet_healthz"
)

// Server is the head's HTTP API.
type Server struct {
	Mux *http.ServeMux
	gcs rpcpb.GcsClient
	// State is what the state API reads besides the GCS (set before serving).
	State StateSource
	// nodeClient reaches a node's manager, workerClient a worker or driver
	// (UseNodeCredentials).
	nodeClient   func(addr string) (rpcpb.NodeManagerClient, error)
	workerClient func(addr string) (rpcpb.CoreWorkerClient, func(), error)
}

// New makes the head server with the built-in endpoints mounted. localNode
// is the node manager of the head process the dashboard runs in ("" for a
// dashboard process of its own): /api/healthz reports it with the GCS.
func New(gcs rpcpb.GcsClient, localNode string) *Server {
	s := &Server{Mux: http.NewServeMux(), gcs: gcs}
	s.Mux.HandleFunc("GET "+HeadHealthPath, s.gcsHealthz)
	s.Mux.Handle("GET "+HealthPath, healthz{gcs: gcs, node: localNode, localGCS: true})
	s.Mux.HandleFunc("GET /api/version", s.version)
	s.Mux.HandleFunc("GET /api/ray/version", s.version)
	s.Mux.HandleFunc("GET /api/cluster_status", s.clusterStatus)
	ui.Mount(s.Mux) // the web page at /
	s.mountState()
	return s
}

// gcsHealthz answers like Ray's HealthzHead: "success" when the GCS answers CheckAlive.
func (s *Server) gcsHealthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	if _, err := s.gcs.CheckAlive(ctx, &rpcpb.CheckAliveRequest{}); err != nil {
		http.Error(w, "Health check failed: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/text")
	fmt.Fprint(w, "success")
}

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	session := ""
	if st, err := s.gcs.GetClusterStatus(ctx, &rpcpb.Empty{}); err == nil {
		session = st.SessionName
	}
	writeJSON(w, map[string]string{"version": "4", "ray_version": "goray-" + Version, "ray_commit": "", "session_name": session})
}

func (s *Server) clusterStatus(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	st, err := s.gcs.GetClusterStatus(ctx, &rpcpb.Empty{})
	if err != nil {
		http.Error(w, "GCS unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	b, _ := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(st)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// AgentMux is the node agent's server (:52365): /api/local_raylet_healthz
// asks the GCS whether this node's manager is alive. As in Ray, an
// unreachable GCS is not counted as a failure of the node. /api/healthz
// reports the node and, on the head (isHead), the GCS too.
func AgentMux(gcs rpcpb.GcsClient, nodeAddress string, isHead bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+NodeHealthPath, func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), time.Second)
		defer cancel()
		if err := rayletAlive(ctx, gcs, nodeAddress); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, "success")
	})
	mux.Handle("GET "+HealthPath, healthz{gcs: gcs, node: nodeAddress, localGCS: isHead})
	return mux
}
