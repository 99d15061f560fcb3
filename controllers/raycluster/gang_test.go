package raycluster_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/operator"
)

// TestGangScheduling runs an operator with --batch-scheduler=kube-scheduler
// against an API server serving the Workload API: an opted-in cluster gets
// its Workload and PodGroup (owned by it, minCount = head + minimum
// workers) before any pod, every pod names the group, minCount follows
// minReplicas, a cluster that did not opt in gets none, and a same-named
// group that is not the cluster's stops its pods from being created.
func TestGangScheduling(t *testing.T) {
	ctx := context.Background()
	ns, err := env.Namespace(ctx, "gang")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startOperator(ctx, []string{ns}, func(o *operator.Options) { o.BatchScheduler = desired.BatchSchedulerKube })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()

	t.Run("opted in", func(t *testing.T) {
		c := newCluster(ns, "gang", workerGroup("a", 3, 2, 5), multiHost(workerGroup("tpu", 1, 1, 2), 2))
		c.Labels = map[string]string{desired.GangSchedulingLabel: "true"}
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		// head + 2 (min of a) + 1 × 2 hosts (tpu).
		waitForMinCount(t, ctx, ns, "gang", 5)
		pg, wl := &schedulingv1beta1.PodGroup{}, &schedulingv1beta1.Workload{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gang"}, pg); err != nil {
			t.Fatal(err)
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gang"}, wl); err != nil {
			t.Fatal(err)
		}
		for _, o := range []metav1.Object{pg, wl} {
			if ref := metav1.GetControllerOf(o); ref == nil || ref.Kind != "RayCluster" || ref.Name != "gang" {
				t.Errorf("%s: controller %+v, want the RayCluster", o.GetName(), ref)
			}
		}
		all := waitForCounts(t, ctx, ns, "gang", 3+2)
		head, err := pods(ctx, ns, "gang", client.MatchingLabels{rayv1.RayClusterLabelKey: "gang", rayv1.RayNodeTypeLabelKey: "head"})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range append(all, head...) {
			if sg := p.Spec.SchedulingGroup; sg == nil || ptr.Deref(sg.PodGroupName, "") != "gang" {
				t.Errorf("pod %s: schedulingGroup %+v, want podGroupName gang", p.Name, sg)
			}
		}
		if pg.CreationTimestamp.After(head[0].CreationTimestamp.Time) {
			t.Errorf("PodGroup created at %v, after the head pod (%v)", pg.CreationTimestamp, head[0].CreationTimestamp)
		}

		// minReplicas 2 → 3: the Workload's template and the PodGroup follow (minCount is mutable).
		if err := patchCluster(ctx, ns, "gang", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].MinReplicas = ptr.To[int32](3) }); err != nil {
			t.Fatal(err)
		}
		waitForMinCount(t, ctx, ns, "gang", 6)
	})

	t.Run("not opted in", func(t *testing.T) {
		if err := k8s.Create(ctx, newCluster(ns, "plain", workerGroup("a", 1, 1, 1))); err != nil {
			t.Fatal(err)
		}
		all := waitForCounts(t, ctx, ns, "plain", 1)
		for _, p := range all {
			if p.Spec.SchedulingGroup != nil {
				t.Errorf("pod %s of a cluster without the label: schedulingGroup %+v", p.Name, p.Spec.SchedulingGroup)
			}
		}
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "plain"}, &schedulingv1beta1.PodGroup{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("PodGroup of a cluster without the label: %v", err)
		}
	})

	t.Run("someone else's group of the same name", func(t *testing.T) {
		foreign := &schedulingv1beta1.PodGroup{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken"},
			Spec: schedulingv1beta1.PodGroupSpec{SchedulingPolicy: schedulingv1beta1.PodGroupSchedulingPolicy{
				Gang: &schedulingv1beta1.GangSchedulingPolicy{MinCount: 7}}},
		}
		if err := k8s.Create(ctx, foreign); err != nil {
			t.Fatal(err)
		}
		c := newCluster(ns, "taken", workerGroup("a", 1, 1, 1))
		c.Labels = map[string]string{desired.SchedulerNameLabel: desired.BatchSchedulerKube}
		if err := k8s.Create(ctx, c); err != nil {
			t.Fatal(err)
		}
		eventually(t, "ReplicaFailure PodGroupConflict", func() (bool, error) {
			got, err := getCluster(ctx, ns, "taken")
			if err != nil {
				return false, err
			}
			cond := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure))
			return cond != nil && cond.Reason == "PodGroupConflict", nil
		})
		if ps, err := pods(ctx, ns, "taken"); err != nil || len(ps) != 0 {
			t.Errorf("pods %v (%v): none may join another's group", names(ps), err)
		}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(foreign), foreign); err != nil || foreign.Spec.SchedulingPolicy.Gang.MinCount != 7 {
			t.Errorf("the foreign PodGroup was changed: %+v (%v)", foreign.Spec.SchedulingPolicy, err)
		}
	})

	t.Run("opting out", func(t *testing.T) {
		// The pods of "gang" name the group: it stays while they live.
		if err := patchCluster(ctx, ns, "gang", func(c *rayv1.RayCluster) { c.Labels = nil }); err != nil {
			t.Fatal(err)
		}
		consistently(t, "the PodGroup stays while pods name it", 2*time.Second, func() (bool, error) {
			pg := &schedulingv1beta1.PodGroup{}
			err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gang"}, pg)
			return err == nil && pg.DeletionTimestamp.IsZero(), err
		})
		// Replace the pods (unscheduled pods go at once): the new ones have
		// no group, and then the group and the Workload go.
		if err := k8s.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(ns), client.MatchingLabels{rayv1.RayClusterLabelKey: "gang"}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Workload and PodGroup of an opted-out cluster deleted", func() (bool, error) {
			for _, o := range []client.Object{&schedulingv1beta1.PodGroup{}, &schedulingv1beta1.Workload{}} {
				err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: "gang"}, o)
				if err == nil && o.GetDeletionTimestamp().IsZero() {
					return false, nil
				}
				if err != nil && !apierrors.IsNotFound(err) {
					return false, err
				}
			}
			return true, nil
		})
		for _, p := range waitForCounts(t, ctx, ns, "gang", 3+2) {
			if p.Spec.SchedulingGroup != nil {
				t.Errorf("pod %s created after opting out names group %v", p.Name, *p.Spec.SchedulingGroup.PodGroupName)
			}
		}
	})
}

func multiHost(g rayv1.WorkerGroupSpec, hosts int32) rayv1.WorkerGroupSpec {
	g.NumOfHosts = hosts
	return g
}

// waitForMinCount waits until the cluster's Workload template and PodGroup
// both have the gang minCount n.
func waitForMinCount(t *testing.T, ctx context.Context, ns, name string, n int32) {
	t.Helper()
	eventually(t, fmt.Sprintf("Workload and PodGroup %s with minCount %d", name, n), func() (bool, error) {
		pg, wl := &schedulingv1beta1.PodGroup{}, &schedulingv1beta1.Workload{}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, pg); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, wl); err != nil {
			return false, client.IgnoreNotFound(err)
		}
		if len(wl.Spec.PodGroupTemplates) != 1 || pg.Spec.WorkloadRef == nil || pg.Spec.WorkloadRef.TemplateName != wl.Spec.PodGroupTemplates[0].Name {
			return false, fmt.Errorf("PodGroup %+v does not name the Workload's template %+v", pg.Spec.WorkloadRef, wl.Spec.PodGroupTemplates)
		}
		return desired.GangMinCountOf(pg.Spec.SchedulingPolicy) == n && desired.GangMinCountOf(wl.Spec.PodGroupTemplates[0].SchedulingPolicy) == n, nil
	})
}
