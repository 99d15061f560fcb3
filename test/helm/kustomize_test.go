package helm

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// kubectlBin finds a kubectl with kustomize built in: $KUBECTL, the test
// cluster's (hack/control-plane.sh caches it in ~/.cache/goray/k8s), PATH.
func kubectlBin(t *testing.T) string {
	if p := os.Getenv("KUBECTL"); p != "" {
		return p
	}
	home, _ := os.UserHomeDir()
	cached, _ := filepath.Glob(filepath.Join(home, ".cache", "goray", "k8s", "*", "kubectl"))
	if len(cached) > 0 {
		return cached[len(cached)-1]
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	t.Skip("no kubectl: hack/control-plane.sh kubectl builds one")
	return ""
}

// TestKustomizeDefault renders config/default (for users without Helm) and
// checks it holds the CRDs, the RBAC and the operator in goray-system, with
// the same operator flags and rules as the Helm chart.
func TestKustomizeDefault(t *testing.T) {
	cmd := exec.Command(kubectlBin(t), "kustomize", "config/default")
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl kustomize config/default: %v\n%s", err, out)
	}
	objs := docs(t, string(out))
	if n := len(objs["CustomResourceDefinition"]); n != 4 {
		t.Errorf("%d CRDs, want 4", n)
	}
	for _, kind := range []string{"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Deployment", "Service"} {
		if len(objs[kind]) != 1 {
			t.Errorf("%d %s objects, want 1", len(objs[kind]), kind)
		}
	}
	if t.Failed() {
		return
	}
	var cr rbacv1.ClusterRole
	strict(t, objs["ClusterRole"][0], &cr)
	var crb rbacv1.ClusterRoleBinding
	strict(t, objs["ClusterRoleBinding"][0], &crb)
	if crb.Subjects[0].Namespace != "goray-system" || crb.RoleRef.Name != cr.Name {
		t.Errorf("ClusterRoleBinding %+v", crb)
	}
	var d appsv1.Deployment
	strict(t, objs["Deployment"][0], &d)
	if d.Namespace != "goray-system" {
		t.Errorf("Deployment namespace %q", d.Namespace)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if c.Image != "goray/operator:dev" {
		t.Errorf("image %q", c.Image)
	}

	// Same flags, command and rules as the chart's defaults.
	var chart appsv1.Deployment
	chartObjs := docs(t, template(t, "charts/goray-operator", ""))
	strict(t, chartObjs["Deployment"][0], &chart)
	cc := chart.Spec.Template.Spec.Containers[0]
	var chartArgs []string
	for _, a := range cc.Args {
		if !slices.Contains([]string{"--zap-log-level=info", "--zap-devel=false"}, a) {
			chartArgs = append(chartArgs, a)
		}
	}
	if !slices.Equal(c.Args, chartArgs) || !slices.Equal(c.Command, cc.Command) {
		t.Errorf("config/manager args %q command %q; the chart's %q %q", c.Args, c.Command, chartArgs, cc.Command)
	}
	var chartRole rbacv1.ClusterRole
	strict(t, chartObjs["ClusterRole"][0], &chartRole)
	if len(cr.Rules) != len(chartRole.Rules) {
		t.Errorf("kustomize ClusterRole has %d rules, the chart's %d", len(cr.Rules), len(chartRole.Rules))
	}
}
