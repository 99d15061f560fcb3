package bench

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// BenchmarkAPIFloor is BenchmarkOperatorScale without an operator: right
// after creating each RayCluster, the benchmark itself makes the writes the
// operator makes for it (the head Service, the head pod, three worker pods
// from the same builders, one status patch) and nothing else — no caches, no
// reconciles. Its time is what the API server and etcd alone need for the
// same work on this machine: the floor under any operator's number.
func BenchmarkAPIFloor(b *testing.B) {
	clusters := benchClusters()
	env := startBenchEnv(b)
	ctx := context.Background()
	cfg := *env.Config
	cfg.QPS, cfg.Burst, cfg.DisableCompression = 1000, 2000, true
	writer, err := client.New(&cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		watches := startWatches(b, ctx, env)
		start := time.Now()
		cr := createClusters(ctx, env.Client, clusters, i, func(rc *rayv1.RayCluster) error { return operatorWrites(ctx, writer, rc) })
		waitAll(b, ctx, watches, env.Client, clusters, i, cr)
		created := cr.took
		elapsed := time.Since(start)
		watches.stop()
		cpu := controlPlaneCPU()
		cpu["benchmark"] = cpuSeconds(os.Getpid())
		b.ReportMetric(elapsed.Seconds(), "s/all-pods-and-statuses")
		b.Logf("%d clusters (%d pods), the operator's writes made inline: all pods and statuses after %.1f s (creates done in %.1f s); CPU seconds since start: %v",
			clusters, clusters*4, elapsed.Seconds(), created.Seconds(), cpu)
	}
}

// operatorWrites makes the five creates and the status patch the operator
// makes for a new cluster of one head and one group of three workers.
func operatorWrites(ctx context.Context, c client.Client, rc *rayv1.RayCluster) error {
	objs := []client.Object{desired.HeadService(rc), desired.HeadPod(rc, desired.PodOptions{})}
	for range 3 {
		objs = append(objs, desired.WorkerPod(rc, &rc.Spec.WorkerGroupSpecs[0], desired.PodOptions{}))
	}
	var head *corev1.Pod
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			return err
		}
		if p, ok := o.(*corev1.Pod); ok && head == nil {
			head = p
		}
	}
	before := rc.DeepCopy()
	rc.Status = rayv1.RayClusterStatus{
		DesiredWorkerReplicas: 3, MaxWorkerReplicas: 10, ObservedGeneration: rc.Generation,
		DesiredCPU: resourceMust("4"), DesiredMemory: resourceMust("4Gi"),
		Head:      rayv1.HeadInfo{ServiceName: desired.HeadServiceName(rc), PodName: head.Name},
		Endpoints: map[string]string{"client": "10001", "dashboard": "8265", "gcs-server": "6379", "metrics": "8080", "serve": "8000"},
	}
	now := metav1.Now()
	for _, t := range []rayv1.RayClusterConditionType{rayv1.HeadPodReady, rayv1.RayClusterProvisioned} {
		meta.SetStatusCondition(&rc.Status.Conditions, metav1.Condition{Type: string(t), Status: metav1.ConditionFalse,
			Reason: "HeadPodNotFound", Message: fmt.Sprintf("%s: pods are being created", t), LastTransitionTime: now, ObservedGeneration: rc.Generation})
	}
	return c.Status().Patch(ctx, rc, client.MergeFrom(before))
}
