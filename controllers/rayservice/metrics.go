package rayservice

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// KubeRay's RayService metrics (docs.ray.io "KubeRay metrics references",
// kuberay controllers/ray/metrics/ray_service_metrics.go), with the uid
// label goray's kuberay_cluster_* carry too.
var (
	serviceInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_service_info",
		Help: "Metadata of a RayService (always 1).",
	}, []string{"name", "namespace", "uid"})
	serviceConditionReady = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_service_condition_ready",
		Help: "Whether the RayService is Ready (condition label): it serves requests through at least one serve endpoint. Always 1.",
	}, []string{"name", "namespace", "uid", "condition"})
	serviceConditionUpgrade = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_service_condition_upgrade_in_progress",
		Help: "Whether the RayService is in a zero-downtime upgrade (condition label). Always 1.",
	}, []string{"name", "namespace", "uid", "condition"})
)

func init() {
	metrics.Registry.MustRegister(serviceInfo, serviceConditionReady, serviceConditionUpgrade)
}

// recordMetrics refreshes a RayService's series from its conditions.
func recordMetrics(rs *rayv1.RayService) {
	uid := string(rs.UID)
	serviceInfo.WithLabelValues(rs.Name, rs.Namespace, uid).Set(1)
	setCondition(serviceConditionReady, rs, uid, string(rayv1.RayServiceReady))
	setCondition(serviceConditionUpgrade, rs, uid, string(rayv1.UpgradeInProgress))
}

// setCondition keeps one series per RayService, labelled with the
// condition's status and valued 1 as KubeRay's are (queries count or sum
// by condition); the other status's series goes by its exact labels.
func setCondition(g *prometheus.GaugeVec, rs *rayv1.RayService, uid, condition string) {
	on := meta.IsStatusConditionTrue(rs.Status.Conditions, condition)
	g.DeleteLabelValues(rs.Name, rs.Namespace, uid, boolLabel(!on))
	g.WithLabelValues(rs.Name, rs.Namespace, uid, boolLabel(on)).Set(1)
}

// forgetMetrics drops a deleted RayService's series.
func forgetMetrics(namespace, name string) {
	l := prometheus.Labels{"name": name, "namespace": namespace}
	serviceInfo.DeletePartialMatch(l)
	serviceConditionReady.DeletePartialMatch(l)
	serviceConditionUpgrade.DeletePartialMatch(l)
}

// boolLabel is the condition label's value, "true" or "false" as in
// KubeRay's kuberay_cluster_condition_provisioned.
func boolLabel(b bool) string { return strconv.FormatBool(b) }
