package raystart

import (
	"maps"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

func TestWithContainer(t *testing.T) {
	list := func(kv ...string) corev1.ResourceList {
		l := corev1.ResourceList{}
		for i := 0; i < len(kv); i += 2 {
			l[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
		}
		return l
	}
	for _, c := range []struct {
		name        string
		params      map[string]string
		limits, req corev1.ResourceList
		want        map[string]string
		tpu         int64
	}{
		{name: "limits", limits: list("cpu", "2", "memory", "1Gi", "nvidia.com/gpu", "1"),
			want: map[string]string{"num-cpus": "2", "memory": "1073741824", "num-gpus": "1"}},
		{name: "requests when no limits", req: list("cpu", "500m", "memory", "512Mi"),
			want: map[string]string{"num-cpus": "0.5", "memory": "536870912"}},
		{name: "GPUs only from limits", req: list("nvidia.com/gpu", "1"), want: map[string]string{}},
		{name: "params win", params: map[string]string{"num-cpus": "'0'", "memory": "100"}, limits: list("cpu", "4", "memory", "1Gi"),
			want: map[string]string{"num-cpus": "'0'", "memory": "100"}},
		{name: "tpu", limits: list("google.com/tpu", "4"), want: map[string]string{}, tpu: 4},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := maps.Clone(c.params)
			got, tpu := WithContainer(c.params, &corev1.Container{Resources: corev1.ResourceRequirements{Limits: c.limits, Requests: c.req}})
			if !maps.Equal(got, c.want) || tpu != c.tpu {
				t.Fatalf("got %v tpu %d, want %v tpu %d", got, tpu, c.want, c.tpu)
			}
			if !maps.Equal(c.params, in) {
				t.Fatal("the given params were changed")
			}
		})
	}
	if p, tpu := WithContainer(map[string]string{"num-cpus": "1"}, nil); p["num-cpus"] != "1" || tpu != 0 {
		t.Fatal("no container: params alone")
	}
}
