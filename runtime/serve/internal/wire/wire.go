// Package wire names the serve actors and methods the head's controller calls
// in an application's binary, and the values they exchange.
package wire

import (
	"encoding/json"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Actor classes and methods registered by package serve in every binary that imports it.
const (
	CatalogClass    = "goray.serve.Catalog"
	CatalogDescribe = CatalogClass + ".Describe"

	ReplicaClass       = "goray.serve.Replica"
	ReplicaInfo        = ReplicaClass + ".Info"
	ReplicaCheckHealth = ReplicaClass + ".CheckHealth"
	ReplicaReconfigure = ReplicaClass + ".Reconfigure"
	ReplicaDrain       = ReplicaClass + ".Drain"
	ReplicaStats       = ReplicaClass + ".Stats"
)

// Catalog is what a binary registered.
type Catalog struct {
	Apps map[string]AppInfo `json:"apps"`
}

// AppInfo is one registered application.
type AppInfo struct {
	Ingress     string                    `json:"ingress"`
	Deployments []schema.DeploymentSchema `json:"deployments"` // code options, Name set
}

// ReplicaInit is the replica actor's constructor argument.
type ReplicaInit struct {
	App        string `json:"app"`
	Deployment string `json:"deployment"`
	ReplicaID  string `json:"replica_id"`
	UserConfig string `json:"user_config"` // JSON, "" = none
}

// Info is where a replica serves (package hop's protocol).
type Info struct {
	Address string `json:"address"`
	// Socket is a unix socket the replica also serves on, for proxies and
	// handles on its node ("" when it has none).
	Socket   string `json:"socket,omitempty"`
	PID      int    `json:"pid"`
	NodeID   string `json:"node_id"`
	NodeIP   string `json:"node_ip"`
	WorkerID string `json:"worker_id"`
}

// Drain asks a replica to stop taking requests and wait for its in-flight ones.
type Drain struct {
	WaitLoopS float64 `json:"wait_loop_s"`
	TimeoutS  float64 `json:"timeout_s"`
}

// Stats is a replica's load and, since it started, what it served: the
// controller reads it for autoscaling and exports it as Ray's replica
// metrics (ray_serve_deployment_request_counter and the like).
type Stats struct {
	Ongoing int   `json:"ongoing"`
	Total   int64 `json:"total"`
	// Requests the handler answered, and of those Errors (status >= 500,
	// or a panic); Latency counts them by processing time, one count per
	// bucket of metrics.LatencyBucketsMs and one above the last;
	// LatencySumMs is their total.
	Requests     int64    `json:"requests,omitempty"`
	Errors       int64    `json:"errors,omitempty"`
	Latency      []uint64 `json:"latency,omitempty"`
	LatencySumMs float64  `json:"latency_sum_ms,omitempty"`
	// Models are the multiplexed models it holds (loaded or loading),
	// sorted: routers send each model's requests where it is.
	Models []string `json:"models,omitempty"`
}

// RawOrEmpty turns a user_config into the string passed to replicas.
func RawOrEmpty(m json.RawMessage) string {
	if len(m) == 0 || string(m) == "null" {
		return ""
	}
	return string(m)
}
