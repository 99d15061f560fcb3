package helm

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/goray-dev/goray/internal/operator"
)

// TestOperatorChartRuntimeImage: the chart passes --runtime-image, by
// default goray/goray:<appVersion> — the image the operator binary itself
// defaults to, so a chart install and a plain `goray-operator` agree —
// and an empty repository passes an empty flag, which keeps every image.
func TestOperatorChartRuntimeImage(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repo, "charts", "goray-operator", "Chart.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	if err := yaml.Unmarshal(b, &chart); err != nil {
		t.Fatal(err)
	}
	if want := "goray/goray:" + chart.AppVersion; operator.DefaultRuntimeImage() != want {
		t.Errorf("the operator's default runtime image %q is not the chart's %q (operator.Version and appVersion differ)", operator.DefaultRuntimeImage(), want)
	}
	for _, tt := range []struct {
		name string
		set  []string
		want string
	}{
		{"default", nil, "--runtime-image=goray/goray:" + chart.AppVersion},
		{"tag", []string{"--set", "runtimeImage.tag=v9"}, "--runtime-image=goray/goray:v9"},
		{"mirror", []string{"--set", "runtimeImage.repository=registry.example.com/goray", "--set", "runtimeImage.tag=v9"}, "--runtime-image=registry.example.com/goray:v9"},
		{"off", []string{"--set", "runtimeImage.repository="}, "--runtime-image="},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var d appsv1.Deployment
			strict(t, docs(t, template(t, "charts/goray-operator", "", tt.set...))["Deployment"][0], &d)
			if args := d.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, tt.want) {
				t.Errorf("args %q lack %s", args, tt.want)
			}
		})
	}
}
