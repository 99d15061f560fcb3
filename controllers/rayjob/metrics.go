package rayjob

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// KubeRay's RayJob metrics (docs.ray.io "KubeRay metrics references",
// kuberay controllers/ray/metrics/ray_job_metrics.go), with the uid label
// goray's kuberay_cluster_* carry too.
var (
	jobInfo = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_job_info",
		Help: "Metadata of a RayJob (always 1).",
	}, []string{"name", "namespace", "uid"})
	jobDeploymentStatus = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_job_deployment_status",
		Help: "The RayJob's current jobDeploymentStatus (1 on the series of that status).",
	}, []string{"name", "namespace", "uid", "deployment_status"})
	jobExecutionDuration = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kuberay_job_execution_duration_seconds",
		Help: "Seconds from the RayJob's start (Initializing) until it reached Complete, Failed or Retrying.",
	}, []string{"name", "namespace", "uid", "job_deployment_status", "retry_count"})
)

func init() {
	metrics.Registry.MustRegister(jobInfo, jobDeploymentStatus, jobExecutionDuration)
}

// recordMetrics refreshes a RayJob's series after a reconcile; from is its
// jobDeploymentStatus before it, so that a status left is dropped by its
// exact labels (a partial match would scan every job's series).
func recordMetrics(j *rayv1.RayJob, from rayv1.JobDeploymentStatus) {
	uid := string(j.UID)
	jobInfo.WithLabelValues(j.Name, j.Namespace, uid).Set(1)
	to := j.Status.JobDeploymentStatus
	if from != to {
		jobDeploymentStatus.DeleteLabelValues(j.Name, j.Namespace, uid, orNew(from))
	}
	jobDeploymentStatus.WithLabelValues(j.Name, j.Namespace, uid, orNew(to)).Set(1)
	if from == to || j.Status.StartTime == nil {
		return
	}
	switch to {
	case rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed, rayv1.JobDeploymentStatusRetrying:
		end := j.Status.EndTime
		if end == nil || end.Before(j.Status.StartTime) {
			return
		}
		retries := 0
		if j.Status.Failed != nil {
			retries = int(*j.Status.Failed)
		}
		jobExecutionDuration.WithLabelValues(j.Name, j.Namespace, uid, string(to), strconv.Itoa(retries)).
			Set(end.Sub(j.Status.StartTime.Time).Seconds())
	}
}

// forgetMetrics drops a deleted RayJob's series.
func forgetMetrics(namespace, name string) {
	l := prometheus.Labels{"name": name, "namespace": namespace}
	jobInfo.DeletePartialMatch(l)
	jobDeploymentStatus.DeletePartialMatch(l)
	jobExecutionDuration.DeletePartialMatch(l)
}
