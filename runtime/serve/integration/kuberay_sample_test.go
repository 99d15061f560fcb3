package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils/dashboardclient"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// sampleServeConfig is the serveConfigV2 of KubeRay's ray-service.sample.yaml
// (Python applications: fruit.deployment_graph, conditional_dag.serve_dag,
// from a GitHub archive working_dir), as a config to change.
func sampleServeConfig(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../../api/v1/testdata/kuberay-samples/ray-service.sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var rs struct {
		Spec struct {
			ServeConfigV2 string `json:"serveConfigV2"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &rs); err != nil || rs.Spec.ServeConfigV2 == "" {
		t.Fatalf("the sample's serveConfigV2: %v", err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal([]byte(rs.Spec.ServeConfigV2), &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// KubeRay's sample RayService config, PUT by KubeRay's own dashboard client
// as its RayService controller does, is accepted (Ray accepts it; goray
// answered 400): its Python applications are DEPLOY_FAILED, each with a
// message saying goray runs Go programs and how to name one, while a goray
// application in the same config deploys and serves — so a RayService shows
// per application why it does not run.
func TestKubeRaySampleServeConfig(t *testing.T) {
	cfg := sampleServeConfig(t)
	apps, _ := cfg["applications"].([]any)
	if len(apps) != 2 {
		t.Fatalf("the sample has %d applications, want fruit_app and math_app", len(apps))
	}
	cfg["applications"] = append(apps, map[string]any{"name": "goray_hello", "route_prefix": "/goray", "import_path": "hello"})
	body, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rc := &dashboardclient.RayDashboardClient{}
	rc.InitClient(&http.Client{Timeout: deadline}, dashboard)
	ctx := context.Background()
	if err := rc.UpdateDeployments(ctx, body); err != nil {
		t.Fatalf("KubeRay's UpdateDeployments of its sample config: %v", err)
	}
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "goray_hello RUNNING", appRunning("goray_hello"))
	waitForBody(t, proxyURL(workerIP, "/goray"), "Hello from goray serve!")

	// What KubeRay's RayService controller reads.
	details, err := rc.GetServeDetails(ctx)
	if err != nil {
		t.Fatalf("GetServeDetails: %v", err)
	}
	statuses, err := rc.ConvertServeDetailsToApplicationStatuses(details)
	if err != nil {
		t.Fatal(err)
	}
	if len(statuses) != 3 || statuses["goray_hello"].Status != schema.AppRunning {
		t.Fatalf("application statuses: %+v", details.Applications)
	}
	for name, importPath := range map[string]string{"fruit_app": "fruit.deployment_graph", "math_app": "conditional_dag.serve_dag"} {
		s := statuses[name]
		if s == nil || s.Status != schema.AppDeployFailed {
			t.Errorf("%s: %+v, want DEPLOY_FAILED", name, s)
			continue
		}
		for _, w := range []string{`import_path "` + importPath + `" is not an application registered in goray-examples (registered: batching, greeter, hello, multiplexing, streaming)`,
			"goray runs Go programs", `serve.Application("<import_path>", ...)`, "runtime_env.binary"} {
			if !strings.Contains(s.Message, w) {
				t.Errorf("%s: message %q lacks %q", name, s.Message, w)
			}
		}
	}
	// A failed application has no route.
	if code, _ := get(t, proxyURL(workerIP, "/fruit")); code != http.StatusNotFound {
		t.Errorf("GET /fruit: %d, want 404", code)
	}
}
