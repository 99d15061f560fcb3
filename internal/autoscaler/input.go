package autoscaler

import (
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/autoscaler/planner"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// replicaNameLabel groups the pods of one multi-host replica.
const replicaNameLabel = "ray.io/worker-group-replica-name"

// LivePods are the pods that count: not being deleted and not finished
// (the node provider ignores pods with a deletionTimestamp).
func LivePods(pods []corev1.Pod) []corev1.Pod {
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	return out
}

// PendingDeletes are the pods named in workersToDelete that still exist,
// by group. While any exist the autoscaler changes nothing (safe_to_scale).
func PendingDeletes(rc *rayv1.RayCluster, live []corev1.Pod) []string {
	exists := map[string]bool{}
	for _, p := range live {
		exists[p.Name] = true
	}
	var out []string
	for _, g := range rc.Spec.WorkerGroupSpecs {
		for _, name := range g.ScaleStrategy.WorkersToDelete {
			if exists[name] {
				out = append(out, name)
			}
		}
	}
	return out
}

// BuildInput joins the RayCluster, its live pods and the GCS resource state
// into the planner's input. GCS nodes map to pods by instance id (the pod
// name, RAY_CLOUD_INSTANCE_ID); a pod without a live GCS node is starting.
// A node type whose resources cannot be told from the spec takes them from a
// running node of the group.
func BuildInput(rc *rayv1.RayCluster, live []corev1.Pod, st *rpcpb.ClusterStatus) (planner.Input, error) {
	types, err := NodeTypes(rc)
	if err != nil {
		return planner.Input{}, err
	}
	in := planner.Input{Types: types, UpscalingMode: UpscalingMode(rc), IdleTimeout: IdleTimeout(rc)}
	byInstance := map[string]*rpcpb.NodeView{}
	for _, n := range st.GetNodes() {
		if n.Alive && n.InstanceId != "" {
			byInstance[n.InstanceId] = n
		}
	}
	deleting := map[string]bool{}
	for _, g := range rc.Spec.WorkerGroupSpecs {
		for _, name := range g.ScaleStrategy.WorkersToDelete {
			deleting[name] = true
		}
	}
	headSeen := false
	for _, p := range live {
		isHead := p.Labels[rayv1.RayNodeTypeLabelKey] == string(rayv1.HeadNode)
		n := planner.Node{Pod: p.Name, Type: p.Labels[rayv1.RayNodeGroupLabelKey], Replica: p.Labels[replicaNameLabel],
			IsHead: isHead, PendingDelete: deleting[p.Name]}
		v := byInstance[p.Name]
		if v == nil && isHead {
			// A head started without RAY_CLOUD_INSTANCE_ID is still the head.
			for _, x := range st.GetNodes() {
				if x.Alive && x.IsHead {
					v = x
				}
			}
		}
		headSeen = headSeen || isHead
		if v != nil {
			n.NodeID, n.Total, n.Available, n.Labels = v.NodeId, v.Total, v.Available, v.Labels
			n.Idle = time.Duration(v.IdleDurationMs) * time.Millisecond
			n.Busy = v.ObjectStoreObjects > 0
			n.Draining = v.Status == "DRAINING"
		}
		in.Nodes = append(in.Nodes, n)
	}
	if !headSeen {
		// Outside Kubernetes (or before the head pod is listed) the head still holds capacity.
		for _, x := range st.GetNodes() {
			if x.Alive && x.IsHead {
				in.Nodes = append(in.Nodes, planner.Node{Pod: "(head)", NodeID: x.NodeId, Type: rayv1.HeadGroupName, IsHead: true,
					Total: x.Total, Available: x.Available, Idle: time.Duration(x.IdleDurationMs) * time.Millisecond})
			}
		}
	}
	for i := range in.Types {
		t := &in.Types[i]
		if _, ok := t.Resources["CPU"]; ok {
			continue
		}
		for _, n := range in.Nodes {
			if n.Type == t.Name && n.NodeID != "" {
				t.Resources = n.Total
				break
			}
		}
	}
	for _, d := range st.GetPending() {
		in.Pending = append(in.Pending, planner.Request{Shape: d.Shape, Count: int(d.Count), Labels: d.LabelSelector})
	}
	for _, c := range st.GetConstraints() {
		in.Constraints = append(in.Constraints, planner.Request{Shape: c.Shape, Count: int(c.Count)})
	}
	for _, g := range st.GetPendingGangs() {
		gang := planner.Gang{ID: g.PlacementGroupId, Strategy: g.Strategy}
		for _, b := range g.Bundles {
			gang.Bundles = append(gang.Bundles, b.Resources)
		}
		in.Gangs = append(in.Gangs, gang)
	}
	slices.SortStableFunc(in.Nodes, func(a, b planner.Node) int {
		// Running nodes first, so demand packs onto them before starting pods.
		switch {
		case a.NodeID != "" && b.NodeID == "":
			return -1
		case a.NodeID == "" && b.NodeID != "":
			return 1
		}
		return 0
	})
	return in, nil
}
