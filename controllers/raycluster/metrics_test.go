package raycluster

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestMetricsFollowProvisioning(t *testing.T) {
	c := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics", Name: "a", UID: "uid-a",
		CreationTimestamp: metav1.Unix(1000, 0)}}
	other := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: "metrics", Name: "b", UID: "uid-b"}}
	defer forgetMetrics("metrics", "a")
	defer forgetMetrics("metrics", "b")

	recordMetrics(other)
	recordMetrics(c)
	if got := testutil.ToFloat64(clusterConditionProvisioned.WithLabelValues("a", "metrics", "uid-a", "false")); got != 1 {
		t.Fatalf("provisioned=false series = %v, want 1 (KubeRay's value: the label says the condition)", got)
	}
	meta.SetStatusCondition(&c.Status.Conditions, metav1.Condition{Type: string(rayv1.RayClusterProvisioned),
		Status: metav1.ConditionTrue, Reason: "AllPodRunningAndReadyFirstTime", LastTransitionTime: metav1.Unix(1042, 0)})
	recordMetrics(c)

	if n := seriesOf(t, "a"); n != 1 {
		t.Fatalf("cluster a has %d condition series after provisioning, want only condition=true", n)
	}
	if got := testutil.ToFloat64(clusterConditionProvisioned.WithLabelValues("a", "metrics", "uid-a", "true")); got != 1 {
		t.Errorf("provisioned=true series = %v, want 1", got)
	}
	if got := testutil.ToFloat64(clusterProvisionedDuration.WithLabelValues("a", "metrics", "uid-a")); got != 42 {
		t.Errorf("provisioned duration = %v, want 42", got)
	}
	if n := seriesOf(t, "b"); n != 1 {
		t.Errorf("another cluster's series changed: %d, want 1", n)
	}

	forgetMetrics("metrics", "a")
	if n := seriesOf(t, "a"); n != 0 {
		t.Errorf("%d series left for a deleted cluster", n)
	}
}

// seriesOf counts the kuberay_cluster_condition_provisioned series of one cluster.
func seriesOf(t *testing.T, name string) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	clusterConditionProvisioned.Collect(ch)
	close(ch)
	n := 0
	for m := range ch {
		var out dto.Metric
		if err := m.Write(&out); err != nil {
			t.Fatal(err)
		}
		for _, l := range out.GetLabel() {
			if l.GetName() == "name" && l.GetValue() == name {
				n++
			}
		}
	}
	return n
}
