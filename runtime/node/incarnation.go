package node

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// clusterIDHeader is the GCS reply header naming its cluster.
const clusterIDHeader = rpcutil.ClusterIDHeader

// clusterVerdict is what a node does with the cluster id of a GCS reply.
type clusterVerdict int

const (
	// sameCluster: nothing to do (the id is the one registered under, or
	// the reply carried none: an error before the GCS's interceptor, an
	// older GCS).
	sameCluster clusterVerdict = iota
	// firstCluster: the first id this node sees; it is adopted.
	firstCluster
	// newCluster: the GCS restarted without durable storage; every job,
	// actor, placement group and lease this node served is gone with the
	// old one.
	newCluster
)

// judgeCluster decides from the cluster id the node registered under and
// the one a reply carried. A new incarnation with the same cluster id (a
// head restarted on durable storage, which re-adopts the node's workers,
// actors and bundles) is the same cluster.
func judgeCluster(registered, seen string) clusterVerdict {
	switch {
	case seen == "" || seen == registered:
		return sameCluster
	case registered == "":
		return firstCluster
	default:
		return newCluster
	}
}

// errOldIncarnation answers lease requests that arrived before the node
// dropped a GCS incarnation: their owner belongs to the old cluster.
func errOldIncarnation() error {
	return status.Error(codes.Aborted, "the GCS restarted without fault-tolerant storage: this node dropped the leases, workers and objects of its previous incarnation, which this request belongs to")
}

// observeCluster acts on the cluster id of a GCS reply's headers.
func (n *Node) observeCluster(md metadata.MD) {
	seen := ""
	if v := md.Get(clusterIDHeader); len(v) > 0 {
		seen = v[0]
	}
	n.mu.Lock()
	old := n.clusterID
	switch judgeCluster(old, seen) {
	case sameCluster:
		n.mu.Unlock()
		return
	case firstCluster:
		n.clusterID = seen
		n.mu.Unlock()
		return
	}
	n.clusterID = seen
	d := n.dropIncarnationLocked()
	n.mu.Unlock()
	// Every owner of a stored object was a process of the old cluster: the
	// drivers exit, the workers were just killed.
	objs := n.Store.IDs()
	n.Store.Delete(objs...)
	n.log.Printf("the GCS at %s is a new cluster (cluster id %s, was %s): it restarted without fault-tolerant storage, so the jobs, actors, placement groups and leases of the old one are gone; killed %d worker(s), dropped %d lease(s), %d placement-group bundle set(s), %d queued request(s) and %d cached executable(s), freed %d object(s)",
		n.cfg.GcsAddress, seen, old, d.workers, d.leases, d.bundles, d.demand, d.binaries, len(objs))
}

// dropped counts what dropIncarnationLocked let go of, for its log line.
type dropped struct{ workers, leases, bundles, demand, binaries int }

// dropIncarnationLocked forgets everything the node held for the old GCS
// incarnation: it kills every worker (task workers, actors and serve
// replicas alike, idle or leased), forgets leases, bundles, queued demand,
// idle pools and which executable a job id named, and gives the node its
// whole resources back. Lease requests and worker starts still in flight
// notice the new epoch and give up (see RequestWorkerLease, grant,
// startWorker, parkIdleLocked).
func (n *Node) dropIncarnationLocked() dropped {
	d := dropped{workers: len(n.workers), leases: len(n.leases), bundles: len(n.bundles), binaries: len(n.jobHashes)}
	for _, dm := range n.demand {
		d.demand += int(dm.Count)
	}
	n.epoch++
	for _, w := range n.workers {
		n.killLocked(w)
	}
	n.leases = map[string]*lease{}
	n.bundles = map[string]map[int32]*bundle{}
	n.demand = map[string]*rpcpb.ResourceDemand{}
	n.idle = newIdlePool()
	n.jobHashes = map[string]string{}
	// The cache by content stays right whatever the job ids; it is dropped
	// with the rest only so that nothing of the old cluster is trusted
	// without a fresh look (a downloaded copy is found again on disk).
	n.binaries = map[string]cachedBinary{}
	n.available = n.total.Clone()
	n.gpus.reset()
	n.view = nil
	n.views.reset()
	n.notifyLocked() // waiting lease requests wake up and see the new epoch
	return d
}
