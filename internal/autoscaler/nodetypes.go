package autoscaler

import (
	"fmt"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/autoscaler/planner"
	"github.com/goray-dev/goray/internal/raystart"
)

// DefaultIdleTimeout is autoscalerOptions.idleTimeoutSeconds' default.
const DefaultIdleTimeout = 60 * time.Second

// NodeTypes turns the worker groups into planner node types: resources from
// rayStartParams num-cpus/num-gpus/memory/resources (and the group's
// resources map), else from the Ray container's limits (then requests), the
// way the operator builds `goray start` flags; min/max/replicas; per-group
// idleTimeoutSeconds and priority. Suspended groups are left out.
func NodeTypes(rc *rayv1.RayCluster) ([]planner.NodeType, error) {
	var out []planner.NodeType
	for _, g := range rc.Spec.WorkerGroupSpecs {
		if g.Suspend != nil && *g.Suspend {
			continue
		}
		res, err := groupResources(g)
		if err != nil {
			return nil, fmt.Errorf("worker group %s: %w", g.GroupName, err)
		}
		t := planner.NodeType{Name: g.GroupName, Resources: res, Replicas: deref(g.Replicas, 0),
			MinReplicas: deref(g.MinReplicas, 0), MaxReplicas: deref(g.MaxReplicas, 2147483647),
			NumOfHosts: max(g.NumOfHosts, 1), Priority: deref(g.Priority, 0)}
		if g.IdleTimeoutSeconds != nil {
			t.IdleTimeout = time.Duration(*g.IdleTimeoutSeconds) * time.Second
		}
		// Labels that cannot be read here (they name the container's
		// environment) leave the group to demand without a selector.
		t.Labels, _ = raystart.Labels(g.RayStartParams, g.Labels)
		out = append(out, t)
	}
	return out, nil
}

// UpscalingMode and IdleTimeout read autoscalerOptions (with Ray's defaults).
func UpscalingMode(rc *rayv1.RayCluster) planner.UpscalingMode {
	if o := rc.Spec.AutoscalerOptions; o != nil && o.UpscalingMode != nil {
		return planner.UpscalingMode(*o.UpscalingMode)
	}
	return planner.Default
}

// IdleTimeout is the cluster's idle timeout.
func IdleTimeout(rc *rayv1.RayCluster) time.Duration {
	if o := rc.Spec.AutoscalerOptions; o != nil && o.IdleTimeoutSeconds != nil {
		return time.Duration(*o.IdleTimeoutSeconds) * time.Second
	}
	return DefaultIdleTimeout
}

func deref(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}

func groupResources(g rayv1.WorkerGroupSpec) (planner.Resources, error) {
	res := planner.Resources{}
	var ray *corev1.Container
	if len(g.Template.Spec.Containers) > 0 {
		ray = &g.Template.Spec.Containers[0]
	}
	// The parameters the pod builder starts the node with.
	p, tpu := raystart.WithContainer(g.RayStartParams, ray)
	for key, name := range map[string]string{"num-cpus": "CPU", "num-gpus": "GPU", "memory": "memory"} {
		v, ok, err := raystart.Number(p, key)
		if err != nil {
			return nil, err
		}
		if ok {
			res[name] = v
		}
	}
	// The custom resources the pod builder passes as --resources.
	custom, err := raystart.Custom(p, g.Resources, tpu)
	if err != nil {
		return nil, err
	}
	for k, v := range custom {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("resources %s=%q is not a number", k, v)
		}
		res[k] = f
	}
	for k, v := range res {
		if v == 0 {
			delete(res, k)
		}
	}
	return res, nil
}
