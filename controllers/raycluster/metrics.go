package raycluster

import (
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// KubeRay's metric names and labels, so existing dashboards keep working.
var (
	clusterInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_cluster_info",
		Help: "Metadata of a RayCluster (always 1).",
	}, []string{"name", "namespace", "uid", "owner_kind"})
	clusterProvisionedDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_cluster_provisioned_duration_seconds",
		Help: "Seconds from a RayCluster's creation until all its pods were first running and ready.",
	}, []string{"name", "namespace", "uid"})
	clusterConditionProvisioned = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_cluster_condition_provisioned",
		Help: "Whether a RayCluster has been provisioned (condition label). Always 1.",
	}, []string{"name", "namespace", "uid", "condition"})
)

func init() {
	metrics.Registry.MustRegister(clusterInfo, clusterProvisionedDuration, clusterConditionProvisioned)
}

// recordMetrics refreshes a cluster's series from its status.
func recordMetrics(c *rayv1.RayCluster) {
	owner := "None"
	if kind := c.Labels[rayv1.RayOriginatedFromCRDKey]; kind != "" {
		owner = kind
	}
	uid := string(c.UID)
	clusterInfo.WithLabelValues(c.Name, c.Namespace, uid, owner).Set(1)
	cond := meta.FindStatusCondition(c.Status.Conditions, string(rayv1.RayClusterProvisioned))
	provisioned := cond != nil && cond.Status == "True"
	// The series of the other condition value goes by its exact labels: a
	// partial-match delete scans every cluster's series, on every reconcile.
	clusterConditionProvisioned.DeleteLabelValues(c.Name, c.Namespace, uid, boolLabel(!provisioned))
	// 1 on the series of the current condition, as KubeRay's: dashboards
	// count or sum by condition.
	clusterConditionProvisioned.WithLabelValues(c.Name, c.Namespace, uid, boolLabel(provisioned)).Set(1)
	if provisioned {
		clusterProvisionedDuration.WithLabelValues(c.Name, c.Namespace, uid).Set(cond.LastTransitionTime.Sub(c.CreationTimestamp.Time).Seconds())
	}
}

// forgetMetrics drops a deleted cluster's series.
func forgetMetrics(namespace, name string) {
	l := prometheus.Labels{"name": name, "namespace": namespace}
	clusterInfo.DeletePartialMatch(l)
	clusterProvisionedDuration.DeletePartialMatch(l)
	clusterConditionProvisioned.DeletePartialMatch(l)
}

func boolLabel(b bool) string {
	if b {
		return "true"
	}
	return "false"
}
