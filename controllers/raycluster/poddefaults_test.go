package raycluster_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/operator"
)

// TestPodDefaultsReachPods: the operator's --default-container-envs,
// --default-pod-labels/annotations and --head/worker-sidecar-containers (the
// chart's `configuration` values) are in the head and worker pods the
// operator creates, as parsed from the flags, and the RayCluster's own
// labels, annotations, env vars and containers keep their values.
func TestPodDefaultsReachPods(t *testing.T) {
	ctx := t.Context()
	ns, err := env.Namespace(ctx, "defaults")
	if err != nil {
		t.Fatal(err)
	}
	defaults, err := operator.ParsePodDefaults(operator.PodDefaultsFlags{
		Env:            `[{"name":"RAY_enable_open_telemetry","value":"true"},{"name":"TEAM","value":"default"}]`,
		Labels:         `{"example.com/cost-center":"42","team":"default"}`,
		Annotations:    `{"prometheus.io/scrape":"true","note":"default"}`,
		HeadSidecars:   `[{"name":"fluentbit","image":"fluent/fluent-bit:3"}]`,
		WorkerSidecars: `[{"name":"envoy","image":"envoyproxy/envoy:v1","args":["--config","/etc/envoy.yaml"]},{"name":"mine","image":"x:1"}]`,
	})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startOperator(ctx, []string{ns}, func(o *operator.Options) { o.PodDefaults = defaults })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)

	c := newCluster(ns, "defaults", workerGroup("small", 1, 0, 2))
	head := &c.Spec.HeadGroupSpec.Template
	head.Labels = map[string]string{"team": "head-team"}
	head.Annotations = map[string]string{"note": "mine"}
	head.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TEAM", Value: "head-team"}}
	worker := &c.Spec.WorkerGroupSpecs[0].Template
	worker.Spec.Containers = append(worker.Spec.Containers, corev1.Container{Name: "mine", Image: "my-own:2"})
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, ns, c.Name, 1)
	all, err := pods(ctx, ns, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	var headPod *corev1.Pod
	for i := range all {
		if all[i].Labels[rayv1.RayNodeTypeLabelKey] == string(rayv1.HeadNode) {
			headPod = &all[i]
		}
	}
	if headPod == nil {
		t.Fatal("no head pod")
	}
	check := func(what string, p *corev1.Pod, env, labels, annotations map[string]string, containers []string) {
		t.Helper()
		for k, want := range env {
			i := slices.IndexFunc(p.Spec.Containers[0].Env, func(e corev1.EnvVar) bool { return e.Name == k })
			if i < 0 || p.Spec.Containers[0].Env[i].Value != want {
				t.Errorf("%s: env %s = %v, want %q", what, k, p.Spec.Containers[0].Env, want)
			}
		}
		for k, want := range labels {
			if p.Labels[k] != want {
				t.Errorf("%s: label %s = %q, want %q", what, k, p.Labels[k], want)
			}
		}
		for k, want := range annotations {
			if p.Annotations[k] != want {
				t.Errorf("%s: annotation %s = %q, want %q", what, k, p.Annotations[k], want)
			}
		}
		var got []string
		for _, ct := range p.Spec.Containers {
			got = append(got, ct.Name)
		}
		if !slices.Equal(got, containers) {
			t.Errorf("%s: containers %v, want %v", what, got, containers)
		}
	}
	check("head", headPod,
		map[string]string{"RAY_enable_open_telemetry": "true", "TEAM": "head-team"},
		map[string]string{"example.com/cost-center": "42", "team": "head-team", rayv1.RayNodeTypeLabelKey: "head"},
		map[string]string{"prometheus.io/scrape": "true", "note": "mine"},
		[]string{"ray-head", "fluentbit"})
	check("worker", &ws[0],
		map[string]string{"RAY_enable_open_telemetry": "true", "TEAM": "default"},
		map[string]string{"example.com/cost-center": "42", "team": "default", rayv1.RayNodeTypeLabelKey: "worker"},
		map[string]string{"prometheus.io/scrape": "true", "note": "default"},
		[]string{"ray-worker", "mine", "envoy"})
	envoy := ws[0].Spec.Containers[2]
	if envoy.Image != "envoyproxy/envoy:v1" || !slices.Equal(envoy.Args, []string{"--config", "/etc/envoy.yaml"}) {
		t.Errorf("worker sidecar %+v", envoy)
	}
	if mine := ws[0].Spec.Containers[1]; mine.Image != "my-own:2" {
		t.Errorf("the cluster's own container %q was replaced by the default one: image %s", mine.Name, mine.Image)
	}
}
