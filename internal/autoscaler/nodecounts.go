package autoscaler

import (
	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/autoscaler/planner"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// NodeCounts is the cluster's nodes by node type (worker group, or the
// head group) and their resources, as the autoscaler sees them in a round:
// what Ray's autoscaler exports as autoscaler_active_nodes,
// autoscaler_pending_nodes, autoscaler_recently_failed_nodes,
// autoscaler_cluster_resources and autoscaler_pending_resources, and what
// the head's metrics port serves from the autoscaler's report.
type NodeCounts struct {
	// Active nodes have registered with the GCS; Pending ones are pods that
	// have not yet, or replicas asked for that have no pod yet; Failed are
	// pods in phase Failed that still exist.
	Active, Pending, Failed map[string]int32
	// ClusterResources sums the active nodes' resources, PendingResources
	// the pending ones' (their group's, as the planner knows them).
	ClusterResources, PendingResources map[string]float64
}

// CountNodes counts in's nodes; target is the groups' spec.replicas after
// the round (nil: the groups' current ones), failed the cluster's pods in
// phase Failed. Every known node type appears in the three counts, 0 when
// it has no such node, as Ray's autoscaler reports its node types.
func CountNodes(in planner.Input, target map[string]int32, failed []corev1.Pod) NodeCounts {
	c := NodeCounts{Active: map[string]int32{}, Pending: map[string]int32{}, Failed: map[string]int32{},
		ClusterResources: map[string]float64{}, PendingResources: map[string]float64{}}
	zero := func(t string) {
		c.Active[t] += 0
		c.Pending[t] += 0
		c.Failed[t] += 0
	}
	zero(rayv1.HeadGroupName)
	pods := map[string]int32{}
	for _, n := range in.Nodes {
		zero(n.Type)
		if n.NodeID != "" {
			c.Active[n.Type]++
			for r, v := range n.Total {
				c.ClusterResources[r] += v
			}
			continue
		}
		pods[n.Type]++
		c.Pending[n.Type]++
		addResources(c.PendingResources, typeResources(in, n.Type), 1)
	}
	for _, t := range in.Types {
		zero(t.Name)
		replicas := t.Replicas
		if r, ok := target[t.Name]; ok {
			replicas = r
		}
		registered := c.Active[t.Name]
		if missing := replicas*max(t.NumOfHosts, 1) - registered - pods[t.Name]; missing > 0 {
			c.Pending[t.Name] += missing
			addResources(c.PendingResources, t.Resources, missing)
		}
	}
	for _, p := range failed {
		if p.Status.Phase == corev1.PodFailed {
			t := p.Labels[rayv1.RayNodeGroupLabelKey]
			zero(t)
			c.Failed[t]++
		}
	}
	return c
}

func typeResources(in planner.Input, name string) planner.Resources {
	for _, t := range in.Types {
		if t.Name == name {
			return t.Resources
		}
	}
	return nil
}

func addResources(sum map[string]float64, r planner.Resources, n int32) {
	for k, v := range r {
		sum[k] += v * float64(n)
	}
}

// fill puts the counts into the autoscaler's report.
func (c NodeCounts) fill(st *rpcpb.AutoscalingState) {
	st.ActiveNodes, st.PendingNodes, st.FailedNodes = c.Active, c.Pending, c.Failed
	st.ClusterResources, st.PendingResources = c.ClusterResources, c.PendingResources
}
