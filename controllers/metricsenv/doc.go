// Package metricsenv holds the operator's metrics acceptance test: a real
// kube-apiserver and etcd (envtest), goray's operator with its metrics
// endpoint on a loopback port, and a RayCluster, a RayJob and a RayService
// whose kuberay_* and controller-runtime series the test scrapes and checks
// against internal/metricnames' list of KubeRay's names and labels.
package metricsenv
