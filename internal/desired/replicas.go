package desired

import (
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// GroupReplicas is the number of replicas group g should run: replicas
// clamped to [minReplicas, maxReplicas], or 0 when the group is suspended.
func GroupReplicas(g *rayv1.WorkerGroupSpec) int32 {
	if g.Suspend != nil && *g.Suspend {
		return 0
	}
	minR, maxR := int32(0), int32(math.MaxInt32)
	if g.MinReplicas != nil {
		minR = *g.MinReplicas
	}
	if g.MaxReplicas != nil {
		maxR = *g.MaxReplicas
	}
	r := minR
	if g.Replicas != nil {
		r = *g.Replicas
	}
	return max(minR, min(r, maxR))
}

// HostsPerReplica is numOfHosts, at least 1.
func HostsPerReplica(g *rayv1.WorkerGroupSpec) int32 { return max(g.NumOfHosts, 1) }

// WorkerCounts are the totals a RayCluster's status reports.
type WorkerCounts struct {
	Desired, Min, Max int32
}

// CountWorkers sums replicas × numOfHosts over the groups (saturating at MaxInt32).
func CountWorkers(c *rayv1.RayCluster) WorkerCounts {
	var desired, minW, maxW int64
	for i := range c.Spec.WorkerGroupSpecs {
		g := &c.Spec.WorkerGroupSpecs[i]
		hosts := int64(HostsPerReplica(g))
		desired += int64(GroupReplicas(g)) * hosts
		if g.MinReplicas != nil {
			minW += int64(*g.MinReplicas) * hosts
		}
		maxR := int64(math.MaxInt32)
		if g.MaxReplicas != nil {
			maxR = int64(*g.MaxReplicas)
		}
		maxW += maxR * hosts
	}
	clamp := func(v int64) int32 { return int32(min(v, math.MaxInt32)) }
	return WorkerCounts{Desired: clamp(desired), Min: clamp(minW), Max: clamp(maxW)}
}

// Resources are the CPU, memory, GPU and TPU totals of a cluster's desired pods.
type Resources struct {
	CPU, Memory, GPU, TPU resource.Quantity
}

// DesiredResources sums the requests (else limits) of every container of
// the head and of every desired worker pod.
func DesiredResources(c *rayv1.RayCluster) Resources {
	var r Resources
	add := func(spec *corev1.PodSpec, n int64) {
		for _, ct := range spec.Containers {
			for name, q := range podQuantities(ct.Resources) {
				total := q.DeepCopy()
				total.Mul(n)
				switch {
				case name == corev1.ResourceCPU:
					r.CPU.Add(total)
				case name == corev1.ResourceMemory:
					r.Memory.Add(total)
				case strings.HasSuffix(string(name), "gpu"):
					r.GPU.Add(total)
				case name == "google.com/tpu":
					r.TPU.Add(total)
				}
			}
		}
	}
	add(&c.Spec.HeadGroupSpec.Template.Spec, 1)
	for i := range c.Spec.WorkerGroupSpecs {
		g := &c.Spec.WorkerGroupSpecs[i]
		add(&g.Template.Spec, int64(GroupReplicas(g))*int64(HostsPerReplica(g)))
	}
	return r
}

// podQuantities takes each resource's request, falling back to its limit.
func podQuantities(req corev1.ResourceRequirements) corev1.ResourceList {
	out := corev1.ResourceList{}
	for name, q := range req.Limits {
		out[name] = q
	}
	for name, q := range req.Requests {
		out[name] = q
	}
	return out
}
