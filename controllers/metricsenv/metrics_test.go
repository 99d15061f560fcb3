package metricsenv_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/metricnames"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
)

const ns = "metrics"

var (
	k8s         client.Client
	metricsAddr string // the operator's /metrics host:port
)

func TestMain(m *testing.M) { testenv.Main(m, run) }

func run(m *testing.M) (int, error) {
	env, err := testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	metricsAddr = l.Addr().String()
	_ = l.Close()
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr = metricsAddr, "0"
	o.WatchNamespaces = []string{ns}
	// No cluster runs the runtime here: the job and serve clients get a
	// closed loopback port and fail fast.
	o.DashboardAddress = func(*rayv1.RayCluster) string { return "127.0.0.1:9" }
	mgr, err := operator.NewManager(env.Config, o)
	if err != nil {
		return 0, err
	}
	go func() { _ = mgr.Start(ctx) }()
	return m.Run(), nil
}

func podSpec(name string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: name, Image: "goray/goray:dev"}}}}
}

func clusterSpec() rayv1.RayClusterSpec {
	return rayv1.RayClusterSpec{HeadGroupSpec: rayv1.HeadGroupSpec{Template: podSpec("ray-head")},
		WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{GroupName: "w", Replicas: ptr.To[int32](1), MinReplicas: ptr.To[int32](0),
			MaxReplicas: ptr.To[int32](2), Template: podSpec("ray-worker")}}}
}

// scrape reads the operator's /metrics as Prometheus would.
func scrape(t *testing.T) metricnames.Families {
	t.Helper()
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", resp.StatusCode, err)
	}
	fams, err := metricnames.Parse(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// series lists name's series of the object called obj, as "label=value" sets.
func series(fams metricnames.Families, name, obj string) []map[string]string {
	var out []map[string]string
	if f := fams[name]; f != nil {
		for _, s := range f.Series {
			if s.Labels["name"] == obj && s.Labels["namespace"] == ns {
				out = append(out, s.Labels)
			}
		}
	}
	return out
}

// TestOperatorMetrics: a RayCluster whose pods become ready, a RayJob that
// fails on its deadline and a RayService give the operator's /metrics every
// kuberay_* series KubeRay documents, with KubeRay's types and labels, next
// to controller-runtime's; a deleted RayJob's series go with it.
func TestOperatorMetrics(t *testing.T) {
	ctx := context.Background()
	rc := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "plain"}, Spec: clusterSpec()}
	job := &rayv1.RayJob{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"}, Spec: rayv1.RayJobSpec{
		// The deadline leaves the operator time to create the job's cluster
		// first, even on a loaded machine (with 1 s the job could fail
		// before it had one, and the cluster's series never came).
		Entrypoint: "sleep 3600", RayClusterSpec: ptr.To(clusterSpec()), ActiveDeadlineSeconds: ptr.To[int32](5)}}
	rs := &rayv1.RayService{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "svc"}, Spec: rayv1.RayServiceSpec{
		ServeConfigV2: "applications:\n  - name: hello\n    import_path: hello\n    route_prefix: /\n", RayClusterSpec: clusterSpec()}}
	for _, o := range []client.Object{rc, job, rs} {
		if err := k8s.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	// Play the kubelet for the plain cluster only: its pods run and are ready.
	testenv.Eventually(t, 60*time.Second, "the plain cluster's pods ready", func() (bool, error) {
		pods := &corev1.PodList{}
		if err := k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{rayv1.RayClusterLabelKey: "plain"}); err != nil {
			return false, err
		}
		ready := 0
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase != corev1.PodRunning {
				if err := testenv.MarkPodReady(ctx, k8s, p, "127.0.0.1"); err != nil {
					return false, err
				}
			}
			ready++
		}
		return ready == 2, nil
	})

	var fams metricnames.Families
	// The RayJob's cluster lives from the job's start until it fails at
	// its deadline (then it goes, and its series with it): its info series
	// is looked for on every scrape while the job runs.
	lateCluster := map[string]string{"owner_kind": "RayJob"}
	sawLateCluster := false
	testenv.Eventually(t, 90*time.Second, "every kuberay_* series", func() (bool, error) {
		fams = scrape(t)
		sawLateCluster = sawLateCluster || hasSeries(fams, "kuberay_cluster_info", "late-", lateCluster)
		for _, c := range []struct{ name, obj string }{
			{"kuberay_cluster_provisioned_duration_seconds", "plain"},
			{"kuberay_job_execution_duration_seconds", "late"},
			{"kuberay_service_info", "svc"},
		} {
			if len(series(fams, c.name, c.obj)) == 0 {
				return false, fmt.Errorf("no %s for %s yet", c.name, c.obj)
			}
		}
		return true, nil
	})
	for _, err := range metricnames.Check(fams, metricnames.Where("operator")) {
		t.Error(err)
	}

	// The values say what the objects are.
	want := []struct {
		name, obj string
		labels    map[string]string
	}{
		{"kuberay_cluster_info", "plain", map[string]string{"owner_kind": "None"}},
		{"kuberay_cluster_condition_provisioned", "plain", map[string]string{"condition": "true"}},
		{"kuberay_job_deployment_status", "late", map[string]string{"deployment_status": "Failed"}},
		{"kuberay_job_execution_duration_seconds", "late", map[string]string{"job_deployment_status": "Failed", "retry_count": "1"}},
		{"kuberay_service_condition_ready", "svc", map[string]string{"condition": "false"}},
		{"kuberay_service_condition_upgrade_in_progress", "svc", map[string]string{"condition": "false"}},
	}
	if !sawLateCluster {
		t.Errorf("no kuberay_cluster_info series of the RayJob's cluster with %v while the job ran", lateCluster)
	}
	for _, w := range want {
		if !hasSeries(fams, w.name, w.obj, w.labels) {
			t.Errorf("no %s series of %s with %v (series: %v)", w.name, w.obj, w.labels, series(fams, w.name, w.obj))
		}
	}
	// As KubeRay's, the condition and status gauges are 1 on the series of
	// the current value.
	for _, c := range []struct{ name, obj string }{{"kuberay_cluster_condition_provisioned", "plain"},
		{"kuberay_job_deployment_status", "late"}, {"kuberay_service_condition_ready", "svc"}, {"kuberay_service_info", "svc"}} {
		for _, s := range fams[c.name].Series {
			if s.Labels["name"] == c.obj && s.Value != "1" {
				t.Errorf("%s%v = %s, want 1", c.name, s.Labels, s.Value)
			}
		}
	}
	if n := len(series(fams, "kuberay_job_deployment_status", "late")); n != 1 {
		t.Errorf("the RayJob has %d deployment_status series, want 1 (the statuses it left are dropped)", n)
	}

	// Deleted, the RayJob's series go.
	if err := k8s.Delete(ctx, job); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 60*time.Second, "the deleted RayJob's series gone", func() (bool, error) {
		fams := scrape(t)
		for _, n := range []string{"kuberay_job_info", "kuberay_job_deployment_status", "kuberay_job_execution_duration_seconds"} {
			if s := series(fams, n, "late"); len(s) > 0 {
				return false, fmt.Errorf("%s still has %v", n, s)
			}
		}
		return true, nil
	})
}

// hasSeries reports whether family name has a series of an object of this
// test's namespace whose name starts with obj and whose labels include
// labels.
func hasSeries(fams metricnames.Families, name, obj string, labels map[string]string) bool {
	for _, f := range fams[name].Series {
		if f.Labels["namespace"] != ns || !strings.HasPrefix(f.Labels["name"], obj) {
			continue
		}
		match := true
		for k, v := range labels {
			match = match && f.Labels[k] == v
		}
		if match {
			return true
		}
	}
	return false
}
