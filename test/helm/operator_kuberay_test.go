package helm

import (
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
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/operator"
)

// TestOperatorChartNamespacedRBAC: KubeRay's singleNamespaceInstall,
// crNamespacedRbacEnable and rbacEnable, and goray's namespaced RBAC for a
// watchNamespace install. Every Role carries exactly the rules of
// config/rbac/role.yaml (the ClusterRole's), bound to the operator's
// ServiceAccount, and the operator watches exactly those namespaces.
func TestOperatorChartNamespacedRBAC(t *testing.T) {
	tests := []struct {
		name string
		set  []string
		// roles: namespaces with the operator's Role and RoleBinding;
		// clusterRole: a ClusterRole and binding instead; watch: --watch-namespace.
		roles       []string
		clusterRole bool
		watch       string
		noRBAC      bool
	}{
		{name: "default: ClusterRole, all namespaces", clusterRole: true, watch: ""},
		{name: "singleNamespaceInstall: the release namespace", set: []string{"singleNamespaceInstall=true"},
			roles: []string{"goray-system"}, watch: "goray-system"},
		{name: "singleNamespaceInstall with watchNamespace", set: []string{"singleNamespaceInstall=true", "watchNamespace={a,b}"},
			roles: []string{"a", "b"}, watch: "a,b"},
		{name: "watchNamespace alone: Roles there", set: []string{"watchNamespace=a\\,b"}, roles: []string{"a", "b"}, watch: "a,b"},
		{name: "watchNamespace without crNamespacedRbacEnable: KubeRay's ClusterRole",
			set: []string{"watchNamespace={a}", "crNamespacedRbacEnable=false"}, clusterRole: true, watch: "a"},
		{name: "singleNamespaceInstall without crNamespacedRbacEnable: Roles left to others",
			set: []string{"singleNamespaceInstall=true", "crNamespacedRbacEnable=false"}, watch: "goray-system"},
		{name: "rbacEnable=false", set: []string{"rbacEnable=false", "watchNamespace={a}"}, watch: "a", noRBAC: true},
		{name: "rbac.create=false", set: []string{"rbac.create=false"}, watch: "", noRBAC: true},
	}
	want := roleRules(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var args []string
			for _, s := range tt.set {
				args = append(args, "--set", s)
			}
			objs := docs(t, template(t, "charts/goray-operator", "", args...))

			var roles, bindings []string
			for _, b := range objs["Role"] {
				var r rbacv1.Role
				strict(t, b, &r)
				if strings.HasSuffix(r.Name, "-leader-election") {
					continue
				}
				roles = append(roles, r.Namespace)
				if !reflect.DeepEqual(r.Rules, want) {
					t.Errorf("Role %s/%s rules differ from config/rbac/role.yaml:\n%v\nwant\n%v", r.Namespace, r.Name, r.Rules, want)
				}
			}
			for _, b := range objs["RoleBinding"] {
				var rb rbacv1.RoleBinding
				strict(t, b, &rb)
				if strings.HasSuffix(rb.Name, "-leader-election") {
					continue
				}
				bindings = append(bindings, rb.Namespace)
				wantSubj := []rbacv1.Subject{{Kind: "ServiceAccount", Name: "goray-goray-operator", Namespace: "goray-system"}}
				if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "goray-goray-operator"}) || !reflect.DeepEqual(rb.Subjects, wantSubj) {
					t.Errorf("RoleBinding %s/%s: roleRef %+v subjects %+v", rb.Namespace, rb.Name, rb.RoleRef, rb.Subjects)
				}
			}
			if !slices.Equal(roles, tt.roles) || !slices.Equal(bindings, tt.roles) {
				t.Errorf("Roles in %v, RoleBindings in %v; want both in %v", roles, bindings, tt.roles)
			}
			if got := len(objs["ClusterRole"]) == 1 && len(objs["ClusterRoleBinding"]) == 1; got != tt.clusterRole {
				t.Errorf("%d ClusterRoles, %d ClusterRoleBindings; want one each: %v", len(objs["ClusterRole"]), len(objs["ClusterRoleBinding"]), tt.clusterRole)
			}
			if tt.noRBAC && len(objs["Role"])+len(objs["RoleBinding"])+len(objs["ClusterRole"])+len(objs["ClusterRoleBinding"]) != 0 {
				t.Errorf("RBAC objects rendered with RBAC off")
			}
			var d appsv1.Deployment
			strict(t, objs["Deployment"][0], &d)
			if arg := "--watch-namespace=" + tt.watch; !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, arg) {
				t.Errorf("args %q lack %s", d.Spec.Template.Spec.Containers[0].Args, arg)
			}
		})
	}
}

// serviceMonitor is the part of monitoring.coreos.com/v1 ServiceMonitor the
// chart renders (strict decoding refuses anything else).
type serviceMonitor struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		Endpoints []struct {
			Port        string `json:"port"`
			Path        string `json:"path"`
			Interval    string `json:"interval"`
			HonorLabels bool   `json:"honorLabels"`
		} `json:"endpoints"`
		NamespaceSelector struct {
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Selector struct {
			MatchLabels map[string]string `json:"matchLabels"`
		} `json:"selector"`
	} `json:"spec"`
}

// TestOperatorChartKubeRayValues renders the KubeRay values that apply to
// goray and checks each reaches the operator: the flags it renders are the
// operator's and parse into what the values say.
func TestOperatorChartKubeRayValues(t *testing.T) {
	objs := docs(t, template(t, "charts/goray-operator", "operator-kuberay.yaml"))
	var d appsv1.Deployment
	strict(t, objs["Deployment"][0], &d)
	c := d.Spec.Template.Spec.Containers[0]
	flags := map[string]string{}
	for _, a := range c.Args {
		k, v, _ := strings.Cut(a, "=")
		flags[strings.TrimPrefix(k, "--")] = v
	}

	// featureGates: KubeRay's default list; goray starts with it.
	gates, err := operator.ParseFeatureGates(flags["feature-gates"])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gates.Check(); err != nil {
		t.Errorf("KubeRay's default feature gates refused: %v", err)
	}
	if len(gates) != 8 || gates.Enabled(operator.GateRayCronJob) {
		t.Errorf("feature gates %v (from %q): want KubeRay's 8, RayCronJob off", gates, flags["feature-gates"])
	}

	// configuration: the pod defaults, as the operator parses them.
	defaults, err := operator.ParsePodDefaults(operator.PodDefaultsFlags{
		Env: flags[operator.FlagDefaultContainerEnvs], Labels: flags[operator.FlagDefaultPodLabels],
		Annotations: flags[operator.FlagDefaultPodAnnotations], HeadSidecars: flags[operator.FlagHeadSidecarContainers],
		WorkerSidecars: flags[operator.FlagWorkerSidecarContainers],
	})
	if err != nil {
		t.Fatal(err)
	}
	fluentbit := corev1.Container{Name: "fluentbit", Image: "fluent/fluent-bit:3.2"}
	headFluentbit := fluentbit
	headFluentbit.Args = []string{"--config", "/etc/fluent-bit/fluent bit.conf"}
	wantDefaults := &desired.PodDefaults{
		Env: []corev1.EnvVar{{Name: "RAY_enable_open_telemetry", Value: "true"},
			{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}}},
		Labels:         map[string]string{"app.kubernetes.io/managed-by": "kuberay"},
		Annotations:    map[string]string{"prometheus.io/scrape": "true"},
		HeadSidecars:   []corev1.Container{headFluentbit},
		WorkerSidecars: []corev1.Container{fluentbit},
	}
	if !reflect.DeepEqual(defaults, wantDefaults) {
		t.Errorf("pod defaults from the chart's flags:\n%+v\nwant\n%+v", defaults, wantDefaults)
	}

	// logging: KubeRay's encoders and file, in an emptyDir.
	if flags["log-stdout-encoder"] != "console" || flags["log-file-encoder"] != "json" || flags["log-file-path"] != "/var/log/goray/operator.log" {
		t.Errorf("logging flags %q", c.Args)
	}
	vols := d.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].EmptyDir == nil || vols[0].EmptyDir.SizeLimit == nil || vols[0].EmptyDir.SizeLimit.String() != "256Mi" ||
		len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != vols[0].Name || c.VolumeMounts[0].MountPath != "/var/log/goray" {
		t.Errorf("log volume %+v mounts %+v", vols, c.VolumeMounts)
	}

	// livenessProbe / readinessProbe: KubeRay's settings on goray's endpoints.
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.LivenessProbe, "/healthz"}, {c.ReadinessProbe, "/readyz"}} {
		want := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: p.path, Port: intstr.FromString("health")}},
			InitialDelaySeconds: 10, PeriodSeconds: 5, FailureThreshold: 5}
		if !reflect.DeepEqual(p.probe, want) {
			t.Errorf("probe %+v, want %+v", p.probe, want)
		}
	}

	// metrics.serviceMonitor: scrapes the metrics Service's port.
	if len(objs["ServiceMonitor"]) != 1 {
		t.Fatalf("%d ServiceMonitors", len(objs["ServiceMonitor"]))
	}
	var sm serviceMonitor
	strict(t, objs["ServiceMonitor"][0], &sm)
	var svc corev1.Service
	strict(t, objs["Service"][0], &svc)
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Metadata.Namespace != "monitoring" || sm.Metadata.Labels["release"] != "prometheus" ||
		len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name || sm.Spec.Endpoints[0].Path != "/metrics" ||
		sm.Spec.Endpoints[0].Interval != "15s" || sm.Spec.Endpoints[0].HonorLabels ||
		!slices.Equal(sm.Spec.NamespaceSelector.MatchNames, []string{"goray-system"}) {
		t.Errorf("ServiceMonitor %+v", sm)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the metrics Service has %q", k, v, svc.Labels[k])
		}
	}

	// Off by default.
	def := docs(t, template(t, "charts/goray-operator", ""))
	if len(def["ServiceMonitor"]) != 0 {
		t.Errorf("ServiceMonitor rendered by default")
	}
	strict(t, def["Deployment"][0], &d)
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		for _, f := range []string{"--feature-gates", "--default-", "--head-sidecar", "--worker-sidecar", "--log-"} {
			if strings.HasPrefix(a, f) {
				t.Errorf("default args have %s", a)
			}
		}
	}
}

// TestOperatorTakesTheChartsFlags runs the operator binary with every flag
// the chart renders (the defaults and the KubeRay values): a flag the chart
// passes that the operator lacks, or a malformed value of a typed flag,
// stops the operator before it starts, so it fails here instead.
func TestOperatorTakesTheChartsFlags(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the operator")
	}
	bin := filepath.Join(t.TempDir(), "goray-operator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/goray-operator")
	build.Dir = repo
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, values := range []string{"", "operator-custom.yaml", "operator-namespaced.yaml", "operator-kuberay.yaml"} {
		var d appsv1.Deployment
		strict(t, docs(t, template(t, "charts/goray-operator", values))["Deployment"][0], &d)
		// -h after the rendered flags: flag parsing checks them all, then
		// prints the usage and exits 0 without starting anything.
		cmd := exec.Command(bin, append(d.Spec.Template.Spec.Containers[0].Args, "-h")...)
		cmd.Env = append(os.Environ(), "KUBECONFIG=/nonexistent")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("values %q: goray-operator refused the chart's flags: %v\n%s", values, err, out)
		}
	}
}
