package raystart

import (
	"maps"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// WithContainer is params with what the Ray container's resources say
// where params are silent, as KubeRay starts Ray: num-cpus and memory from
// its limits (else its requests), num-gpus from a limit whose name ends in
// "gpu"; and its google.com/tpu limit (a TPU resource, see Custom). Its
// TCP port named serve becomes serve-port, where the node's serve HTTP
// proxy listens (KubeRay's serve Service targets that port). The pod
// builder starts the node with these parameters and the autoscaler reads a
// worker group's node shape from them, so the two always agree. c may be
// nil (no container: params alone).
func WithContainer(params map[string]string, c *corev1.Container) (map[string]string, int64) {
	p := maps.Clone(params)
	if p == nil {
		p = map[string]string{}
	}
	if c == nil {
		return p, 0
	}
	limits, requests := c.Resources.Limits, c.Resources.Requests
	pick := func(name corev1.ResourceName) (resource.Quantity, bool) {
		if q, ok := limits[name]; ok {
			return q, true
		}
		q, ok := requests[name]
		return q, ok
	}
	if _, ok := p["num-cpus"]; !ok {
		if q, ok := pick(corev1.ResourceCPU); ok {
			p["num-cpus"] = formatCPU(q)
		}
	}
	if _, ok := p["memory"]; !ok {
		if q, ok := pick(corev1.ResourceMemory); ok {
			p["memory"] = strconv.FormatInt(q.Value(), 10)
		}
	}
	if _, ok := p["num-gpus"]; !ok {
		for name, q := range limits {
			if strings.HasSuffix(string(name), "gpu") && !q.IsZero() {
				p["num-gpus"] = strconv.FormatInt(q.Value(), 10)
				break
			}
		}
	}
	withServePort(p, c)
	tpu := limits["google.com/tpu"]
	return p, tpu.Value()
}

// formatCPU renders a CPU quantity as Ray does: a number of cores, fractional when needed.
func formatCPU(q resource.Quantity) string {
	m := q.MilliValue()
	if m%1000 == 0 {
		return strconv.FormatInt(m/1000, 10)
	}
	return strconv.FormatFloat(float64(m)/1000, 'f', -1, 64)
}
