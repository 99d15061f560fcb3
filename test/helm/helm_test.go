// Package helm tests goray's Helm charts (charts/), the kustomize layout
// (config/default) and the samples (config/samples) without a cluster:
// `helm lint`, golden `helm template` output, CRDs and RBAC in sync with
// config/, and every rendered or sample object decoded strictly into goray's
// API types.
//
//	go test ./test/helm/            # needs helm: hack/helm.sh builds it once
//	go test ./test/helm/ -update    # rewrite testdata/*.golden
package helm

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current charts")

const helmVersion = "v3.22.0"

var repo = func() string { p, _ := filepath.Abs("../.."); return p }()

// helmBin finds helm: $HELM, bin/helm, the hack/helm.sh cache, then PATH.
func helmBin(t *testing.T) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	cache := os.Getenv("GORAY_CACHE")
	if cache == "" {
		cache = filepath.Join(home, ".cache", "goray")
	}
	for _, p := range []string{os.Getenv("HELM"), filepath.Join(repo, "bin", "helm"), filepath.Join(cache, "tools", "helm-"+helmVersion)} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("helm"); err == nil {
		return p
	}
	if os.Getenv("GORAY_REQUIRE_HELM") == "1" {
		t.Fatal("no helm: run hack/helm.sh (builds helm " + helmVersion + " into ~/.cache/goray/tools)")
	}
	t.Skip("no helm: run hack/helm.sh (builds helm " + helmVersion + " into ~/.cache/goray/tools); GORAY_REQUIRE_HELM=1 makes this a failure")
	return ""
}

func runHelm(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command(helmBin(t), args...)
	cmd.Dir = repo
	// No user config or repositories from the machine.
	tmp := t.TempDir()
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+tmp, "HELM_CACHE_HOME="+tmp, "HELM_DATA_HOME="+tmp)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("helm %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func TestHelmLint(t *testing.T) {
	for _, chart := range []string{"charts/goray-operator", "charts/ray-cluster"} {
		t.Run(filepath.Base(chart), func(t *testing.T) {
			out := runHelm(t, "lint", "--strict", chart)
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint %s:\n%s", chart, out)
			}
		})
	}
}

// goldenCases: chart, values file (testdata/values/, "" for the defaults), golden name.
var goldenCases = []struct{ name, chart, values string }{
	{"operator-default", "charts/goray-operator", ""},
	{"operator-custom", "charts/goray-operator", "operator-custom.yaml"},
	{"operator-local", "charts/goray-operator", "operator-local.yaml"},
	{"operator-namespaced", "charts/goray-operator", "operator-namespaced.yaml"},
	{"operator-kuberay", "charts/goray-operator", "operator-kuberay.yaml"},
	{"ray-cluster-default", "charts/ray-cluster", ""},
	{"ray-cluster-autoscaling", "charts/ray-cluster", "ray-cluster-autoscaling.yaml"},
	{"ray-cluster-podmonitor", "charts/ray-cluster", "ray-cluster-podmonitor.yaml"},
}

func template(t *testing.T, chart, values string, extra ...string) string {
	args := []string{"template", "goray", chart, "--namespace", "goray-system"}
	if values != "" {
		args = append(args, "-f", filepath.Join("test", "helm", "testdata", "values", values))
	}
	return runHelm(t, append(args, extra...)...)
}

func TestHelmTemplateGolden(t *testing.T) {
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			got := template(t, c.chart, c.values)
			golden := filepath.Join("testdata", c.name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./test/helm/ -update)", err)
			}
			if got != string(want) {
				t.Errorf("helm template %s differs from %s (go test ./test/helm/ -update rewrites it):\n%s", c.chart, golden, diff(string(want), got))
			}
		})
	}
}

// diff shows the first differing lines.
func diff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(w) || i < len(g); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			lo, hi := max(0, i-3), min(max(len(w), len(g)), i+4)
			var sb strings.Builder
			for j := lo; j < hi; j++ {
				if j < len(w) {
					fmt.Fprintf(&sb, "-%4d %s\n", j+1, w[j])
				}
				if j < len(g) {
					fmt.Fprintf(&sb, "+%4d %s\n", j+1, g[j])
				}
			}
			return sb.String()
		}
	}
	return ""
}

// docs splits a multi-document YAML stream into objects, by kind.
func docs(t *testing.T, stream string) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, d := range strings.Split("\n"+stream, "\n---") {
		if strings.TrimSpace(stripComments(d)) == "" {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(d), &meta); err != nil {
			t.Fatalf("%v in:\n%s", err, d)
		}
		out[meta.Kind] = append(out[meta.Kind], []byte(d))
	}
	return out
}

func stripComments(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func strict(t *testing.T, b []byte, into any) {
	t.Helper()
	if err := yaml.UnmarshalStrict(b, into); err != nil {
		t.Fatalf("decoding %T: %v\n%s", into, err, b)
	}
}

// roleRules reads config/rbac/role.yaml, the rules controller-gen generated.
func roleRules(t *testing.T) []rbacv1.PolicyRule {
	b, err := os.ReadFile(filepath.Join(repo, "config", "rbac", "role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var role rbacv1.ClusterRole
	strict(t, bytes.TrimPrefix(b, []byte("---\n")), &role)
	return role.Rules
}

func TestOperatorChartObjects(t *testing.T) {
	objs := docs(t, template(t, "charts/goray-operator", ""))
	for _, kind := range []string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service", "Deployment"} {
		if len(objs[kind]) != 1 {
			t.Errorf("%d %s objects, want 1", len(objs[kind]), kind)
		}
	}
	var cr rbacv1.ClusterRole
	strict(t, objs["ClusterRole"][0], &cr)
	if want := roleRules(t); !reflect.DeepEqual(cr.Rules, want) {
		// hack/sync-charts.sh copies config/rbac/role.yaml to files/role.yaml.
		t.Errorf("the chart's ClusterRole rules differ from config/rbac/role.yaml (hack/sync-charts.sh):\n%v\nwant\n%v", cr.Rules, want)
	}

	var d appsv1.Deployment
	strict(t, objs["Deployment"][0], &d)
	c := d.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--metrics-bind-address=:8080", "--health-probe-bind-address=:8082", "--leader-elect=true",
		"--reconcile-concurrency=10", "--watch-namespace=", "--qps=1000", "--burst=2000"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("operator args %q lack %s", c.Args, want)
		}
	}
	if !slices.Equal(c.Command, []string{"/usr/local/bin/goray-operator"}) {
		t.Errorf("command %q", c.Command)
	}
	if c.Image != "goray/operator:dev" {
		t.Errorf("image %q, want goray/operator:dev (appVersion)", c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container securityContext not hardened: %+v", sc)
	}
	if psc := d.Spec.Template.Spec.SecurityContext; psc == nil || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
		t.Errorf("pod securityContext: %+v, want runAsUser 65532", psc)
	}
	if sa := d.Spec.Template.Spec.ServiceAccountName; sa != "goray-goray-operator" {
		t.Errorf("serviceAccountName %q", sa)
	}
}

func TestOperatorChartValues(t *testing.T) {
	out := template(t, "charts/goray-operator", "", "--set", "watchNamespace={a,b}", "--set", "replicas=2",
		"--set", "image.tag=v1", "--set", "image.pullPolicy=Never", "--set", "reconcileConcurrency=3",
		"--set", "kubeClient.qps=50", "--set", "kubeClient.burst=100", "--set", "leaderElection.id=x")
	var d appsv1.Deployment
	strict(t, docs(t, out)["Deployment"][0], &d)
	c := d.Spec.Template.Spec.Containers[0]
	for _, want := range []string{"--watch-namespace=a,b", "--reconcile-concurrency=3", "--qps=50", "--burst=100", "--leader-election-id=x"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if *d.Spec.Replicas != 2 || c.Image != "goray/operator:v1" || c.ImagePullPolicy != "Never" {
		t.Errorf("replicas %d image %s pullPolicy %s", *d.Spec.Replicas, c.Image, c.ImagePullPolicy)
	}

	// Two replicas without leader election is refused.
	cmd := exec.Command(helmBin(t), "template", "x", "charts/goray-operator", "--set", "replicas=2", "--set", "leaderElection.enabled=false")
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(b), "leaderElection") {
		t.Errorf("replicas=2 without leader election: %v %s", err, b)
	}
}

// TestChartCRDsInSync: charts/goray-operator/crds and files/role.yaml are
// byte-for-byte copies of config/ (hack/sync-charts.sh copies them).
func TestChartCRDsInSync(t *testing.T) {
	bases, _ := filepath.Glob(filepath.Join(repo, "config", "crd", "bases", "*.yaml"))
	chart, _ := filepath.Glob(filepath.Join(repo, "charts", "goray-operator", "crds", "*.yaml"))
	if len(bases) == 0 {
		t.Fatal("no CRDs in config/crd/bases")
	}
	names := func(ps []string) (n []string) {
		for _, p := range ps {
			n = append(n, filepath.Base(p))
		}
		return n
	}
	if !slices.Equal(names(bases), names(chart)) {
		t.Errorf("chart CRDs %v, config/crd/bases %v: run hack/sync-charts.sh", names(chart), names(bases))
	}
	pairs := map[string]string{filepath.Join(repo, "config", "rbac", "role.yaml"): filepath.Join(repo, "charts", "goray-operator", "files", "role.yaml")}
	for _, b := range bases {
		pairs[b] = filepath.Join(repo, "charts", "goray-operator", "crds", filepath.Base(b))
	}
	for src, dst := range pairs {
		a, err1 := os.ReadFile(src)
		b, err2 := os.ReadFile(dst)
		if err1 != nil || err2 != nil || !bytes.Equal(a, b) {
			t.Errorf("%s is not a copy of %s: run hack/sync-charts.sh", rel(dst), rel(src))
		}
	}
}

func rel(p string) string { r, _ := filepath.Rel(repo, p); return r }

// TestRayClusterChart decodes the rendered RayClusters strictly into goray's
// API types and checks what the values set.
func TestRayClusterChart(t *testing.T) {
	var rc rayv1.RayCluster
	strict(t, docs(t, template(t, "charts/ray-cluster", ""))["RayCluster"][0], &rc)
	if rc.Name != "goray-ray-cluster" || rc.Spec.EnableInTreeAutoscaling != nil {
		t.Errorf("name %q autoscaling %v", rc.Name, rc.Spec.EnableInTreeAutoscaling)
	}
	head := rc.Spec.HeadGroupSpec.Template.Spec.Containers[0]
	if head.Image != "goray/goray:dev" || head.Resources.Requests.Cpu().String() != "500m" {
		t.Errorf("head image %s cpu %s", head.Image, head.Resources.Requests.Cpu())
	}
	if len(rc.Spec.WorkerGroupSpecs) != 1 || *rc.Spec.WorkerGroupSpecs[0].Replicas != 1 {
		t.Errorf("worker groups %+v", rc.Spec.WorkerGroupSpecs)
	}

	rc = rayv1.RayCluster{}
	strict(t, docs(t, template(t, "charts/ray-cluster", "ray-cluster-autoscaling.yaml"))["RayCluster"][0], &rc)
	if rc.Spec.EnableInTreeAutoscaling == nil || !*rc.Spec.EnableInTreeAutoscaling || rc.Spec.AutoscalerOptions == nil {
		t.Fatalf("autoscaling not enabled: %+v", rc.Spec)
	}
	groups := map[string]rayv1.WorkerGroupSpec{}
	for _, g := range rc.Spec.WorkerGroupSpecs {
		groups[g.GroupName] = g
	}
	small, big := groups["small"], groups["big"]
	if small.Replicas == nil || *small.Replicas != 0 || *small.MinReplicas != 0 || *small.MaxReplicas != 4 {
		t.Errorf("group small %+v", small)
	}
	if big.Replicas == nil || *big.Replicas != 0 || *big.MaxReplicas != 2 || big.RayStartParams["num-cpus"] != "2" {
		t.Errorf("group big (zero replicas kept, the rest from worker) %+v", big)
	}
	if _, ok := groups["off"]; ok {
		t.Errorf("disabled group rendered")
	}
}
