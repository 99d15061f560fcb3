package helm

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// TestRayClusterChartAuth: the chart says token auth explicitly (goray's
// default), takes a Secret of the user's, turns auth off on request and
// refuses what admission would.
func TestRayClusterChartAuth(t *testing.T) {
	render := func(extra ...string) *rayv1.AuthOptions {
		t.Helper()
		var rc rayv1.RayCluster
		strict(t, docs(t, template(t, "charts/ray-cluster", "", extra...))["RayCluster"][0], &rc)
		return rc.Spec.AuthOptions
	}
	if a := render(); a == nil || a.Mode != rayv1.AuthModeToken || a.SecretName != nil {
		t.Errorf("default authOptions %+v, want mode token without secretName", a)
	}
	if a := render("--set", "auth.secretName=my-token"); a == nil || a.Mode != rayv1.AuthModeToken || a.SecretName == nil || *a.SecretName != "my-token" {
		t.Errorf("auth.secretName: authOptions %+v", a)
	}
	if a := render("--set", "auth.mode=disabled"); a == nil || a.Mode != rayv1.AuthModeDisabled {
		t.Errorf("auth.mode=disabled: authOptions %+v", a)
	}
	for _, bad := range [][]string{{"--set", "auth.mode=bogus"}, {"--set", "auth.mode=disabled", "--set", "auth.secretName=x"}} {
		cmd := exec.Command(helmBin(t), append([]string{"template", "goray", "charts/ray-cluster"}, bad...)...)
		cmd.Dir = repo
		tmp := t.TempDir()
		cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+tmp, "HELM_CACHE_HOME="+tmp, "HELM_DATA_HOME="+tmp)
		if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "auth.") {
			t.Errorf("helm template %v: %v, want a failure naming auth.*:\n%s", bad, err, out)
		}
	}
}

// TestOperatorRunsRestricted: the operator's Deployment, from the chart and
// from config/manager, meets the restricted Pod Security profile.
func TestOperatorRunsRestricted(t *testing.T) {
	check := func(what string, d *appsv1.Deployment) {
		t.Helper()
		pod := d.Spec.Template.Spec.SecurityContext
		c := d.Spec.Template.Spec.Containers[0].SecurityContext
		if pod == nil || c == nil {
			t.Fatalf("%s: securityContext pod %+v container %+v", what, pod, c)
		}
		nonRoot := (c.RunAsNonRoot != nil && *c.RunAsNonRoot) || (pod.RunAsNonRoot != nil && *pod.RunAsNonRoot)
		user := c.RunAsUser
		if user == nil {
			user = pod.RunAsUser
		}
		seccomp := c.SeccompProfile
		if seccomp == nil {
			seccomp = pod.SeccompProfile
		}
		if !nonRoot || user == nil || *user == 0 || seccomp == nil || seccomp.Type != corev1.SeccompProfileTypeRuntimeDefault ||
			c.ReadOnlyRootFilesystem == nil || !*c.ReadOnlyRootFilesystem || c.AllowPrivilegeEscalation == nil || *c.AllowPrivilegeEscalation ||
			c.Capabilities == nil || len(c.Capabilities.Drop) != 1 || c.Capabilities.Drop[0] != "ALL" {
			t.Errorf("%s: not restricted: pod %+v container %+v", what, pod, c)
		}
	}
	var chart appsv1.Deployment
	strict(t, docs(t, template(t, "charts/goray-operator", ""))["Deployment"][0], &chart)
	check("charts/goray-operator", &chart)

	b, err := os.ReadFile(repo + "/config/manager/manager.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range strings.Split(string(b), "\n---") {
		if strings.Contains(d, "kind: Deployment") {
			var dep appsv1.Deployment
			strict(t, []byte(d), &dep)
			check("config/manager", &dep)
		}
	}
}
