package operator

import (
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/goray-dev/goray/internal/desired"
)

func TestParsePodDefaults(t *testing.T) {
	tests := []struct {
		name    string
		in      PodDefaultsFlags
		want    *desired.PodDefaults
		wantErr string
	}{
		{name: "none"},
		{name: "blank", in: PodDefaultsFlags{Env: " ", Labels: "\n"}},
		{name: "all", in: PodDefaultsFlags{
			Env:            `[{"name":"A","value":"1"},{"name":"B","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}]`,
			Labels:         `{"team":"ray"}`,
			Annotations:    `{"prometheus.io/scrape":"true"}`,
			HeadSidecars:   `[{"name":"log","image":"fluent-bit:3"}]`,
			WorkerSidecars: `[{"name":"proxy","image":"envoy:1","ports":[{"containerPort":9901}]}]`,
		}, want: &desired.PodDefaults{
			Env: []corev1.EnvVar{{Name: "A", Value: "1"},
				{Name: "B", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			Labels:         map[string]string{"team": "ray"},
			Annotations:    map[string]string{"prometheus.io/scrape": "true"},
			HeadSidecars:   []corev1.Container{{Name: "log", Image: "fluent-bit:3"}},
			WorkerSidecars: []corev1.Container{{Name: "proxy", Image: "envoy:1", Ports: []corev1.ContainerPort{{ContainerPort: 9901}}}},
		}},
		{name: "YAML is taken too", in: PodDefaultsFlags{Labels: "team: ray\n"}, want: &desired.PodDefaults{Labels: map[string]string{"team": "ray"}}},
		{name: "unknown field", in: PodDefaultsFlags{Env: `[{"name":"A","valueFromm":{}}]`}, wantErr: `--default-container-envs: `},
		{name: "wrong shape", in: PodDefaultsFlags{Labels: `["a"]`}, wantErr: `--default-pod-labels: `},
		{name: "bad sidecar", in: PodDefaultsFlags{WorkerSidecars: `[{"name":"x"}]`}, wantErr: "workerSidecarContainers[0] x: image is empty"},
		{name: "bad annotation", in: PodDefaultsFlags{Annotations: `{"a b":"c"}`}, wantErr: `defaultPodAnnotations key "a b"`},
		{name: "bad head sidecar json", in: PodDefaultsFlags{HeadSidecars: `[{`}, wantErr: "--head-sidecar-containers: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePodDefaults(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
