package raycluster_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/operator"
)

// TestRayCronJobGate: --feature-gates=RayCronJob=false (KubeRay's default
// values file says so) leaves RayCronJobs alone, as KubeRay's operator does
// without the gate; goray's default runs the controller. Two operators, one
// namespace each: the one with the gate on is the control that a RayCronJob
// gets reconciled in this time at all.
func TestRayCronJobGate(t *testing.T) {
	ctx := t.Context()
	cronJob := func(ns string) *rayv1.RayCronJob {
		return &rayv1.RayCronJob{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "nightly"},
			Spec: rayv1.RayCronJobSpec{
				Schedule: "0 3 * * *",
				JobTemplate: rayv1.RayJobSpec{
					Entrypoint:     "goray-examples pi",
					SubmissionMode: rayv1.HTTPMode,
					RayClusterSpec: &rayv1.RayClusterSpec{HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
						Containers: []corev1.Container{{Name: "ray-head", Image: "goray/goray:dev"}}}}}},
				},
			},
		}
	}
	var nss [2]string
	for i, gates := range []operator.FeatureGates{nil, {operator.GateRayCronJob: false}} {
		ns, err := env.Namespace(ctx, "cron-gate")
		if err != nil {
			t.Fatal(err)
		}
		stop, err := startOperator(ctx, []string{ns}, func(o *operator.Options) { o.FeatureGates = gates })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
		if err := k8s.Create(ctx, cronJob(ns)); err != nil {
			t.Fatal(err)
		}
		nss[i] = ns
	}
	observed := func(ns string) (bool, error) {
		cj := &rayv1.RayCronJob{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "nightly"}, cj); err != nil {
			return false, err
		}
		return cj.Status.ObservedGeneration == cj.Generation, nil
	}
	eventually(t, "the RayCronJob of the operator with the gate on (default) to be reconciled", func() (bool, error) { return observed(nss[0]) })
	consistently(t, "the RayCronJob of the operator with RayCronJob=false to be left alone", 2*time.Second, func() (bool, error) {
		done, err := observed(nss[1])
		return !done, err
	})
}
