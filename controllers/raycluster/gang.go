package raycluster

import (
	"context"
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/goray-dev/goray/internal/desired"
)

// The kube-scheduler's gang scheduling (--batch-scheduler=kube-scheduler):
// the operator creates each opted-in cluster's Workload and PodGroup and the
// pods name the PodGroup (desired.PodGroup, desired.Workload).
//
// +kubebuilder:rbac:groups=scheduling.k8s.io,resources=workloads;podgroups,verbs=get;list;watch;create;update;patch;delete

// Reasons of the events and ReplicaFailure condition of the gang phase.
const (
	FailedCreateGangGroup = "FailedCreatePodGroup"
	GangGroupConflict     = "PodGroupConflict"
)

// watchGang has the cluster reconciled when its Workload or PodGroup
// changes or goes, only with kube-scheduler: elsewhere the API server may
// not serve them, and a watch on them would keep the manager from starting.
func (r *Reconciler) watchGang(b *builder.Builder) *builder.Builder {
	if r.BatchScheduler != desired.BatchSchedulerKube {
		return b
	}
	return b.Owns(&schedulingv1beta1.Workload{}).Owns(&schedulingv1beta1.PodGroup{})
}

// reconcileGang keeps a gang-scheduled cluster's Workload and PodGroup at
// the cluster's minimum (head + minimum workers). It runs before the pods
// are created, so the first pod finds its group; an error stops the
// reconcile there, since a pod naming a group that is missing or someone
// else's would wait on it.
func (r *Reconciler) reconcileGang(ctx context.Context, s *scope) error {
	if r.BatchScheduler != desired.BatchSchedulerKube {
		return nil
	}
	c := s.cluster
	if !desired.GangScheduled(c, r.BatchScheduler) {
		return r.removeGang(ctx, s)
	}
	wl := desired.Workload(c)
	if err := r.syncGangObject(ctx, s, wl, &schedulingv1beta1.Workload{}, func(o client.Object) *int32 {
		w := o.(*schedulingv1beta1.Workload)
		if len(w.Spec.PodGroupTemplates) == 0 || w.Spec.PodGroupTemplates[0].SchedulingPolicy.Gang == nil {
			return nil
		}
		return &w.Spec.PodGroupTemplates[0].SchedulingPolicy.Gang.MinCount
	}); err != nil {
		return err
	}
	return r.syncGangObject(ctx, s, desired.PodGroup(c), &schedulingv1beta1.PodGroup{}, func(o client.Object) *int32 {
		pg := o.(*schedulingv1beta1.PodGroup)
		if pg.Spec.SchedulingPolicy.Gang == nil {
			return nil
		}
		return &pg.Spec.SchedulingPolicy.Gang.MinCount
	})
}

// syncGangObject creates want when missing and otherwise brings its gang
// minCount (the one field of either object that is mutable and that the
// cluster's spec moves: minReplicas, numOfHosts, a suspended group) to
// want's. minCount points into an object at its gang minCount, nil when it
// has none.
func (r *Reconciler) syncGangObject(ctx context.Context, s *scope, want, existing client.Object, minCount func(client.Object) *int32) error {
	c := s.cluster
	kind := want.GetObjectKind().GroupVersionKind().Kind
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(want), existing)
	if apierrors.IsNotFound(err) {
		err = r.Client.Create(ctx, want)
		if err == nil {
			return nil
		}
		if apierrors.IsAlreadyExists(err) {
			// The cache holds only objects labelled as ours: one it does not
			// show is someone else's, or ours not seen yet. Ask the server.
			err = r.APIReader.Get(ctx, client.ObjectKeyFromObject(want), existing)
		} else {
			msg := fmt.Sprintf("creating %s %s: %v", kind, want.GetName(), err)
			s.fail(FailedCreateGangGroup, msg)
			r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, FailedCreateGangGroup, "Create", msg)
			return err
		}
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(existing, c) {
		// A group of the same name that is not this cluster's: its pods
		// would join someone else's gang. Stop before creating any.
		msg := fmt.Sprintf("%s %s exists and is not this RayCluster's: the pods are not created until it is gone", kind, want.GetName())
		s.fail(GangGroupConflict, msg)
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, GangGroupConflict, "Create", msg)
		return fmt.Errorf("%s", msg)
	}
	have, wantCount := minCount(existing), minCount(want)
	if have == nil || wantCount == nil || *have == *wantCount {
		// A group made without a gang cannot become one (the policy is
		// fixed at creation); nothing else of ours changes.
		return nil
	}
	before, _ := existing.DeepCopyObject().(client.Object)
	*have = *wantCount
	return r.Client.Patch(ctx, existing, client.MergeFrom(before))
}

// removeGang deletes the Workload and PodGroup of a cluster that no longer
// asks for gang scheduling, once none of its live pods names the group: a
// pod's group is fixed at creation, and an unscheduled pod whose group is
// gone would wait for it forever. The cluster's new pods are created
// without a group.
func (r *Reconciler) removeGang(ctx context.Context, s *scope) error {
	c := s.cluster
	group := desired.PodGroupName(c)
	if slices.ContainsFunc(s.livePods(), func(p corev1.Pod) bool {
		return p.Spec.SchedulingGroup != nil && ptr.Deref(p.Spec.SchedulingGroup.PodGroupName, "") == group
	}) {
		return nil
	}
	// The PodGroup first: it names the Workload's template.
	for _, obj := range []client.Object{
		&schedulingv1beta1.PodGroup{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: group}},
		&schedulingv1beta1.Workload{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: desired.WorkloadName(c)}},
	} {
		err := r.Client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		if !metav1.IsControlledBy(obj, c) || !obj.GetDeletionTimestamp().IsZero() {
			continue
		}
		uid := obj.GetUID()
		if err := r.Client.Delete(ctx, obj, client.Preconditions{UID: &uid}); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}
