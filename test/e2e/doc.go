// Package e2e holds goray's end-to-end tests. They run only with the build
// tag e2e, as root, on the single-node test cluster of hack/cluster:
//
//	go test -tags e2e -timeout 60m -v ./test/e2e/
//
// TestMain brings the cluster up (hack/cluster/up.sh), loads the images
// (hack/cluster/load-images.sh plus the probe image of ./probe), runs the
// tests and tears the cluster down (hack/cluster/down.sh); the last test
// checks that the host is clean afterwards.
//
// The scenarios (ray_test.go, rayjob_test.go, rayjob_libs_test.go, scale_serve_test.go) install
// the operator with `helm upgrade --install charts/goray-operator` (image
// goray/operator:dev, pullPolicy Never; helm from hack/helm.sh) and apply the
// samples of config/samples, each in its own namespace: TestRayCluster
// (ready, workers joined per `goray status`, delete → pods and services
// gone), TestRayJob (K8sJobMode, goray-examples pi, SUCCEEDED with logs),
// TestRayJobWorkerDeleted, TestRayJobDataPipeline (rayjob_libs_test.go:
// goray Data's batch inference on two worker pods sharing a hostPath, every
// score checked, tasks and actors on both pods per the head's task
// history), TestRayJobTuneAutoscaler (a seeded Tune experiment on an
// autoscaling cluster: workers 0 → 2 for the pending trials, the best
// trial in the logs, 2 → 0 after the idle timeout), TestAutoscaler
// (0 → N → 0), TestRayService
// (skipped while the operator has no RayService controller) and
// TestTokenAuth (a cluster without authOptions: token auth on, restricted
// pods; from another namespace the job API answers 401 and the GCS
// Unauthenticated without the token, 200 and OK with it), and TestTLS
// (tls_test.go: tlsOptions.enabled — the CA and certificate Secrets, HTTPS
// probes, workers over mutual TLS, the dashboard over HTTPS with the CA and
// refused without it, a deleted certificate made again while the cluster
// runs, a RayJob SUCCEEDED on a TLS cluster), TestGCSFaultTolerance
// (ft_test.go: a RayService on the in-cluster Redis, head pod deleted under
// load, ≥ 99.9% served, cleanup Job removes the keys) and TestNodeLoss (the
// cluster's second node lost mid-RayJob; see docs/fault-tolerance.md), and TestKubeRaySample
// (kuberay_image_test.go: KubeRay's ray-cluster.sample.yaml applied unchanged runs goray's
// runtime image in place of rayproject/ray, becomes ready, and a job on it SUCCEEDS). The samples run with token
// auth, so every scenario goes through the operator's token wiring. Every
// step prints its duration ("e2e: <test>: <step> <seconds>").
//
// Environment:
//
//	GORAY_E2E_REUSE=1   use the running cluster (start one only if none runs) and leave it running
//	GORAY_E2E_KEEP=1    bring the cluster up but leave it running afterwards
//	GORAY_E2E_KEEP_GOING=1  a goray binary that does not build is left out of the images
//	GORAY_CLUSTER_DIR   the cluster's state folder (default ~/.cache/goray/cluster)
//	HELM                the helm binary (default: hack/helm.sh builds/caches v3.22.0)
//	GORAY_E2E_HELM_VALUES=FILE  an extra values file for the operator chart (e.g. rbac.extraRules)
package e2e
