package schema

import (
	"strings"
	"testing"
)

func TestResolveDefaults(t *testing.T) {
	r := Resolve(DeploymentSchema{Name: "d"})
	if r.NumReplicas != 1 || r.Autoscaling != nil || r.MaxOngoingRequests != 5 || r.MaxQueuedRequests != -1 ||
		r.HealthCheckPeriodS != 10 || r.HealthCheckTimeoutS != 30 || r.GracefulShutdownWaitLoopS != 2 ||
		r.GracefulShutdownTimeoutS != 20 || r.Resources["CPU"] != 1 {
		t.Fatalf("defaults: %+v", r)
	}
	auto := Resolve(DeploymentSchema{Name: "d", NumReplicas: &NumReplicas{Auto: true}})
	if a := auto.Autoscaling; a == nil || a.MinReplicas != 1 || a.MaxReplicas != 100 || a.TargetOngoingRequests != 2 ||
		a.UpscaleDelayS != 30 || a.DownscaleDelayS != 600 {
		t.Fatalf(`num_replicas "auto": %+v`, auto.Autoscaling)
	}
	three := 3
	ac := Resolve(DeploymentSchema{Name: "d", AutoscalingConfig: &AutoscalingConfig{MaxReplicas: &three}})
	if a := ac.Autoscaling; a.MinReplicas != 1 || a.MaxReplicas != 3 {
		t.Fatalf("autoscaling_config: %+v", a)
	}
	zero := 0.0
	r = Resolve(DeploymentSchema{Name: "d", RayActorOptions: &RayActorOptions{NumCPUs: &zero, Resources: map[string]float64{"TPU": 2}}})
	if _, ok := r.Resources["CPU"]; ok || r.Resources["TPU"] != 2 {
		t.Fatalf("ray_actor_options resources: %v", r.Resources)
	}
}

func TestMergeOverrides(t *testing.T) {
	two, five := 2, 5
	code := DeploymentSchema{Name: "d", AutoscalingConfig: &AutoscalingConfig{MaxReplicas: &five}, MaxOngoingRequests: &two}
	m := Merge(code, DeploymentSchema{Name: "d", NumReplicas: &NumReplicas{N: 3}})
	if m.AutoscalingConfig != nil || m.NumReplicas.N != 3 || *m.MaxOngoingRequests != 2 {
		t.Fatalf("an int num_replicas replaces the code's autoscaling: %+v", m)
	}
	m = Merge(DeploymentSchema{Name: "d", NumReplicas: &NumReplicas{N: 3}}, DeploymentSchema{Name: "d", AutoscalingConfig: &AutoscalingConfig{}})
	if m.NumReplicas != nil || m.AutoscalingConfig == nil {
		t.Fatalf("autoscaling_config replaces the code's num_replicas: %+v", m)
	}
}

func TestCapacityAdjusted(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, c := range []struct {
		n    int
		tc   *float64
		want int
	}{{4, nil, 4}, {4, f(100), 4}, {4, f(50), 2}, {3, f(50), 2}, {1, f(1), 1}, {4, f(0), 0}} {
		if got := CapacityAdjusted(c.n, c.tc); got != c.want {
			t.Errorf("CapacityAdjusted(%d, %v) = %d, want %d", c.n, c.tc, got, c.want)
		}
	}
}

func TestDecodeAndValidate(t *testing.T) {
	s, err := Decode([]byte(`{"applications":[{"name":"a","import_path":"hello","deployments":[{"name":"Hello","num_replicas":"auto"}]}]}`))
	if err != nil || Validate(s) != nil || s.Applications[0].Route() != "/" || !s.Applications[0].Deployments[0].NumReplicas.Auto {
		t.Fatalf("good config: %v %+v", err, s)
	}
	s, _ = Decode([]byte(`{"applications":[{"name":"a","route_prefix":"/x/","import_path":""},{"name":"a","route_prefix":"/x/","import_path":"b"}]}`))
	err = Validate(s)
	for _, want := range []string{"must not end with '/'", "must be unique", "import_path: field required", "route prefixes must be unique"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validation error %v lacks %q", err, want)
		}
	}
}
