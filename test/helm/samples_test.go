package helm

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// TestSamples decodes every config/samples file strictly into goray's API
// types and checks what the e2e tests and the docs rely on: the local image,
// requests that fit the 2-core test cluster, the RayJob's entrypoint and mode,
// the RayService's serve config.
func TestSamples(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(repo, "config", "samples", "*.yaml"))
	if len(files) < 4 {
		t.Fatalf("samples: %v", files)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var meta struct{ Kind string }
			if err := yaml.Unmarshal(b, &meta); err != nil {
				t.Fatal(err)
			}
			var spec *rayv1.RayClusterSpec
			switch meta.Kind {
			case "RayCluster":
				var o rayv1.RayCluster
				strict(t, b, &o)
				spec = &o.Spec
			case "RayJob":
				var o rayv1.RayJob
				strict(t, b, &o)
				spec = o.Spec.RayClusterSpec
				entrypoint := map[string]string{
					"ray-job.sample.yaml":          "goray-examples pi",
					"ray-job.batch-inference.yaml": "goray-examples batch-inference /data/batch-inference",
					"ray-job.tune-autoscaler.yaml": "goray-examples tune",
				}[filepath.Base(f)]
				if o.Spec.Entrypoint != entrypoint || o.Spec.SubmissionMode != rayv1.K8sJobMode || !o.Spec.ShutdownAfterJobFinishes {
					t.Errorf("RayJob: entrypoint %q mode %q shutdownAfterJobFinishes %v", o.Spec.Entrypoint, o.Spec.SubmissionMode, o.Spec.ShutdownAfterJobFinishes)
				}
			case "RayService":
				var o rayv1.RayService
				strict(t, b, &o)
				spec = &o.Spec.RayClusterSpec
				var cfg struct {
					Applications []struct {
						Name        string
						ImportPath  string         `json:"import_path"`
						RoutePrefix string         `json:"route_prefix"`
						RuntimeEnv  map[string]any `json:"runtime_env"`
					}
				}
				if err := yaml.Unmarshal([]byte(o.Spec.ServeConfigV2), &cfg); err != nil {
					t.Fatalf("serveConfigV2: %v", err)
				}
				if len(cfg.Applications) != 1 || cfg.Applications[0].ImportPath != "hello" || cfg.Applications[0].RuntimeEnv["binary"] != "/usr/local/bin/goray-examples" {
					t.Errorf("serveConfigV2 applications %+v, want hello from /usr/local/bin/goray-examples", cfg.Applications)
				}
			default:
				t.Fatalf("unexpected kind %q", meta.Kind)
			}
			if spec == nil {
				t.Fatal("no RayCluster spec")
			}
			cpu := int64(0)
			for _, c := range spec.HeadGroupSpec.Template.Spec.Containers {
				checkContainer(t, "head", c.Image, string(c.ImagePullPolicy))
				cpu += c.Resources.Requests.Cpu().MilliValue()
			}
			for _, g := range spec.WorkerGroupSpecs {
				for _, c := range g.Template.Spec.Containers {
					checkContainer(t, g.GroupName, c.Image, string(c.ImagePullPolicy))
					n := int64(1)
					if g.Replicas != nil {
						n = int64(*g.Replicas)
					}
					if spec.EnableInTreeAutoscaling != nil && *spec.EnableInTreeAutoscaling && g.MaxReplicas != nil {
						n = int64(*g.MaxReplicas) // as many as the autoscaler may add
					}
					cpu += n * c.Resources.Requests.Cpu().MilliValue()
				}
			}
			if cpu > 1500 {
				t.Errorf("pods request %dm CPU: more than the 2-core test cluster can hold next to the operator", cpu)
			}
		})
	}
}

func checkContainer(t *testing.T, group, image, policy string) {
	t.Helper()
	if image != "goray/goray:dev" || policy != "IfNotPresent" {
		t.Errorf("%s: image %q pull policy %q, want goray/goray:dev IfNotPresent", group, image, policy)
	}
	if strings.Contains(image, "rayproject") {
		t.Errorf("%s: a Python Ray image", group)
	}
}
