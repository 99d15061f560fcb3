// Package workerenv is the contract between a node manager and the worker
// processes it starts, and between the job supervisor and the drivers it
// runs: the GORAY_* environment variables one side writes and the SDK
// (runtime/ray), serve and the core worker read. It is the one place their
// names are spelled.
package workerenv

import (
	"os"
	"strings"
)

// The variables a node sets for a worker process.
const (
	// Worker is "1" in a worker process: ray.Init serves tasks there
	// instead of starting or joining a cluster.
	Worker      = "GORAY_WORKER"
	NodeAddress = "GORAY_NODE_ADDRESS" // the node manager's gRPC address
	GcsAddress  = "GORAY_GCS_ADDRESS"
	WorkerID    = "GORAY_WORKER_ID"
	JobID       = "GORAY_JOB_ID"
	BinaryHash  = "GORAY_BINARY_HASH" // the worker binary's content hash
	NodeID      = "GORAY_NODE_ID"
	NodeIP      = "GORAY_NODE_IP"
	SessionDir  = "GORAY_SESSION_DIR" // logs, sockets and spilled objects
	ClusterID   = "GORAY_CLUSTER_ID"
	// ObjectDir is the node's local transfer directory (objectstore's
	// transfer.go); empty when objects go through gRPC only.
	ObjectDir = "GORAY_OBJECT_DIR"
)

// The variables a driver reads (the job supervisor sets Address).
const (
	// Address is the cluster a driver's ray.Init joins (Ray's RAY_ADDRESS).
	Address   = "GORAY_ADDRESS"
	Namespace = "GORAY_NAMESPACE"
)

// Env is what a node tells a worker process about where it runs.
type Env struct {
	NodeAddress, GcsAddress, WorkerID, JobID, BinaryHash, NodeID, NodeIP, SessionDir, ClusterID, ObjectDir string
}

// Vars is env as NAME=value entries for exec.Cmd.Env, Worker=1 first.
func (e Env) Vars() []string {
	return []string{Worker + "=1", NodeAddress + "=" + e.NodeAddress, GcsAddress + "=" + e.GcsAddress,
		WorkerID + "=" + e.WorkerID, JobID + "=" + e.JobID, BinaryHash + "=" + e.BinaryHash, NodeID + "=" + e.NodeID,
		NodeIP + "=" + e.NodeIP, SessionDir + "=" + e.SessionDir, ClusterID + "=" + e.ClusterID, ObjectDir + "=" + e.ObjectDir}
}

// Current is what this process was told (empty fields outside a worker).
func Current() Env { return parse(os.Getenv) }

// FromVars reads the entries Vars wrote (the last of a name wins, as in a
// process environment).
func FromVars(vars []string) Env {
	m := map[string]string{}
	for _, kv := range vars {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return parse(func(k string) string { return m[k] })
}

func parse(get func(string) string) Env {
	return Env{NodeAddress: get(NodeAddress), GcsAddress: get(GcsAddress), WorkerID: get(WorkerID), JobID: get(JobID),
		BinaryHash: get(BinaryHash), NodeID: get(NodeID), NodeIP: get(NodeIP), SessionDir: get(SessionDir), ClusterID: get(ClusterID), ObjectDir: get(ObjectDir)}
}

// IsWorker reports whether this process is a worker a node started.
func IsWorker() bool { return os.Getenv(Worker) == "1" }
