package desired

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestPodDefaultsApply(t *testing.T) {
	defaults := &PodDefaults{
		Env: []corev1.EnvVar{
			{Name: "RAY_enable_open_telemetry", Value: "true"},
			{Name: "MINE", Value: "default"},
			{Name: "RAY_ADDRESS", Value: "default:1"},
		},
		Labels:         map[string]string{"team": "default", "cost-center": "42", rayv1.RayNodeTypeLabelKey: "default"},
		Annotations:    map[string]string{"prometheus.io/scrape": "true", "note": "default"},
		HeadSidecars:   []corev1.Container{{Name: "fluentbit", Image: "fluent/fluent-bit:3"}},
		WorkerSidecars: []corev1.Container{{Name: "proxy", Image: "envoy:1"}, {Name: "taken", Image: "x:1"}},
	}
	tests := []struct {
		name     string
		worker   bool
		defaults *PodDefaults
		edit     func(*rayv1.RayCluster)
		// env, labels, annotations the pod must have (name → value);
		// containers: the pod's container names in order.
		env, labels, annotations map[string]string
		containers               []string
	}{
		{name: "head gets everything", defaults: defaults,
			env:         map[string]string{"RAY_enable_open_telemetry": "true", "MINE": "default", "RAY_ADDRESS": "127.0.0.1:6379"},
			labels:      map[string]string{"team": "default", "cost-center": "42", rayv1.RayNodeTypeLabelKey: "head"},
			annotations: map[string]string{"prometheus.io/scrape": "true", "note": "default"},
			containers:  []string{"ray-head", "fluentbit"}},
		{name: "worker gets the worker sidecars", worker: true, defaults: defaults,
			env:        map[string]string{"RAY_enable_open_telemetry": "true"},
			labels:     map[string]string{"team": "default", rayv1.RayNodeTypeLabelKey: "worker"},
			containers: []string{"ray-worker", "proxy", "taken"}},
		{name: "the user's keys win", defaults: defaults, edit: func(c *rayv1.RayCluster) {
			tmpl := &c.Spec.HeadGroupSpec.Template
			tmpl.Labels = map[string]string{"team": "mine"}
			tmpl.Annotations = map[string]string{"note": "mine"}
			tmpl.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MINE", Value: "mine"}}
			tmpl.Spec.Containers = append(tmpl.Spec.Containers, corev1.Container{Name: "fluentbit", Image: "my-fluentbit:1"})
		},
			env:         map[string]string{"MINE": "mine", "RAY_enable_open_telemetry": "true"},
			labels:      map[string]string{"team": "mine", "cost-center": "42"},
			annotations: map[string]string{"note": "mine", "prometheus.io/scrape": "true"},
			containers:  []string{"ray-head", "fluentbit"}},
		{name: "an init container's name is taken too", worker: true, defaults: defaults, edit: func(c *rayv1.RayCluster) {
			c.Spec.WorkerGroupSpecs[0].Template.Spec.InitContainers = []corev1.Container{{Name: "taken", Image: "init:1"}}
		}, containers: []string{"ray-worker", "proxy"}},
		{name: "sidecars come after the autoscaler", defaults: defaults, edit: func(c *rayv1.RayCluster) {
			on := true
			c.Spec.EnableInTreeAutoscaling = &on
		}, containers: []string{"ray-head", AutoscalerContainerName, "fluentbit"}},
		{name: "no defaults", containers: []string{"ray-head"}, labels: map[string]string{rayv1.RayNodeTypeLabelKey: "head"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			if tt.edit != nil {
				tt.edit(c)
			}
			opts := PodOptions{Defaults: tt.defaults}
			pod := HeadPod(c, opts)
			if tt.worker {
				pod = WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], opts)
			}
			for name, want := range tt.env {
				if got := mustEnv(t, pod.Spec.Containers[0].Env, name); got.Value != want {
					t.Errorf("env %s = %q, want %q", name, got.Value, want)
				}
			}
			for k, want := range tt.labels {
				if got := pod.Labels[k]; got != want {
					t.Errorf("label %s = %q, want %q", k, got, want)
				}
			}
			for k, want := range tt.annotations {
				if got := pod.Annotations[k]; got != want {
					t.Errorf("annotation %s = %q, want %q", k, got, want)
				}
			}
			var names []string
			for _, ct := range pod.Spec.Containers {
				names = append(names, ct.Name)
			}
			if !slices.Equal(names, tt.containers) {
				t.Errorf("containers %v, want %v", names, tt.containers)
			}
			if tt.defaults == nil {
				if _, ok := findEnv(t, pod.Spec.Containers[0].Env, "RAY_enable_open_telemetry"); ok {
					t.Errorf("env from defaults without defaults")
				}
			}
		})
	}
}

// TestPodDefaultsEnvLast: the defaults come after the operator's variables,
// so a default may refer to them with $(VAR) (the kubelet only expands
// variables defined earlier in the list).
func TestPodDefaultsEnvLast(t *testing.T) {
	d := &PodDefaults{Env: []corev1.EnvVar{{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "k8s.pod.ip=$(RAY_POD_IP)"}}}
	env := WorkerPod(testCluster(), &testCluster().Spec.WorkerGroupSpecs[0], PodOptions{Defaults: d}).Spec.Containers[0].Env
	ip := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "RAY_POD_IP" })
	otel := slices.IndexFunc(env, func(e corev1.EnvVar) bool { return e.Name == "OTEL_RESOURCE_ATTRIBUTES" })
	if ip < 0 || otel < ip {
		t.Errorf("RAY_POD_IP at %d, the default at %d: want the default after it", ip, otel)
	}
}

// TestPodDefaultsNotShared: pods do not share the defaults' pointers, so
// one pod's later edit (a controller filling a field) cannot reach another.
func TestPodDefaultsNotShared(t *testing.T) {
	d := &PodDefaults{
		Env:          []corev1.EnvVar{{Name: "A", ValueFrom: fieldRef("metadata.name")}},
		HeadSidecars: []corev1.Container{{Name: "s", Image: "s:1", Args: []string{"x"}}},
	}
	p1 := HeadPod(testCluster(), PodOptions{Defaults: d})
	mustEnv(t, p1.Spec.Containers[0].Env, "A").ValueFrom.FieldRef.FieldPath = "changed"
	p1.Spec.Containers[1].Args[0] = "changed"
	if d.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.name" || d.HeadSidecars[0].Args[0] != "x" {
		t.Errorf("a pod's edit reached the defaults: %+v %+v", d.Env[0].ValueFrom.FieldRef, d.HeadSidecars[0].Args)
	}
}

func TestPodDefaultsValidate(t *testing.T) {
	tests := []struct {
		name string
		d    PodDefaults
		want []string // substrings of the error; none: valid
	}{
		{name: "empty"},
		{name: "valid", d: PodDefaults{
			Env:            []corev1.EnvVar{{Name: "A", Value: "1"}, {Name: "B", ValueFrom: fieldRef("metadata.name")}},
			Labels:         map[string]string{"example.com/team": "ray", "plain": ""},
			Annotations:    map[string]string{"Example.com/Note": "any value, with spaces"},
			HeadSidecars:   []corev1.Container{{Name: "log", Image: "l:1"}},
			WorkerSidecars: []corev1.Container{{Name: "log", Image: "l:1"}},
		}},
		{name: "env", d: PodDefaults{Env: []corev1.EnvVar{{Value: "x"}, {Name: "A"}, {Name: "A"}, {Name: "B", Value: "1", ValueFrom: fieldRef("x")}}},
			want: []string{"defaultContainerEnvs[0]: name is empty", "defaultContainerEnvs[2]: A is given twice", "defaultContainerEnvs[3] B: value and valueFrom"}},
		{name: "labels", d: PodDefaults{Labels: map[string]string{"bad key": "v", "k": "bad value"}},
			want: []string{`defaultPodLabels key "bad key"`, `defaultPodLabels["k"] value "bad value"`}},
		{name: "annotations", d: PodDefaults{Annotations: map[string]string{"/x": "v"}}, want: []string{`defaultPodAnnotations key "/x"`}},
		{name: "sidecars", d: PodDefaults{
			HeadSidecars:   []corev1.Container{{Name: "Bad_Name", Image: "x"}, {Name: AutoscalerContainerName, Image: "x"}, {Name: "noimage"}},
			WorkerSidecars: []corev1.Container{{Name: "a", Image: "x"}, {Name: "a", Image: "x"}, {Name: SubmitterContainerName, Image: "x"}},
		}, want: []string{`headSidecarContainers[0] name "Bad_Name"`, `headSidecarContainers[1]: the name "autoscaler" is the operator's own`,
			"headSidecarContainers[2] noimage: image is empty", `workerSidecarContainers[1]: name "a" is given twice`,
			`workerSidecarContainers[2]: the name "ray-job-submitter"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.d)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestPodDefaultsApplyNil(t *testing.T) {
	pod := HeadPod(testCluster(), PodOptions{})
	want := pod.DeepCopy()
	var d *PodDefaults
	d.Apply(pod, rayv1.HeadNode)
	if !reflect.DeepEqual(pod, want) {
		t.Errorf("nil defaults changed the pod")
	}
}
