package raycluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/expectations"
)

// reconcilePods makes the pods match the spec: suspend and Recreate first,
// then exactly one head, then each worker group.
func (r *Reconciler) reconcilePods(ctx context.Context, s *scope) error {
	c := s.cluster
	if suspendRequested(c) {
		return r.suspend(ctx, s)
	}
	if desired.RecreateEnabled(c) {
		hash := desired.RecreateHash(c)
		if slices.ContainsFunc(s.livePods(), func(p corev1.Pod) bool { return p.Annotations[rayv1.UpgradeStrategyRecreateHashKey] != hash }) {
			r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "RecreatingPods", "Recreate", "the pod templates changed: deleting every pod to recreate it")
			return r.deleteAllPods(ctx, s)
		}
	}
	if err := r.reconcileHead(ctx, s); err != nil {
		return err
	}
	for i := range c.Spec.WorkerGroupSpecs {
		if err := r.reconcileGroup(ctx, s, &c.Spec.WorkerGroupSpecs[i]); err != nil {
			return err
		}
	}
	return nil
}

// suspendRequested is true while the cluster is, or must finish, suspending:
// a suspend runs to completion even if spec.suspend is cleared meanwhile.
func suspendRequested(c *rayv1.RayCluster) bool {
	if c.Spec.Suspend != nil && *c.Spec.Suspend {
		return true
	}
	for _, cond := range c.Status.Conditions {
		if cond.Type == string(rayv1.RayClusterSuspending) && cond.Status == "True" {
			return true
		}
	}
	return false
}

// suspend deletes every pod at once; the cluster is Suspended when none is left.
func (r *Reconciler) suspend(ctx context.Context, s *scope) error {
	if len(s.pods) == 0 {
		s.suspended = true
		return nil
	}
	s.suspending = true
	s.requeue = true
	if len(s.livePods()) == 0 {
		return nil // only terminating pods left
	}
	return r.deleteAllPods(ctx, s)
}

// deleteAllPods removes every pod of the cluster in one call.
func (r *Reconciler) deleteAllPods(ctx context.Context, s *scope) error {
	c := s.cluster
	err := r.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace(c.Namespace),
		client.MatchingLabels{rayv1.RayClusterLabelKey: c.Name})
	if err != nil {
		s.fail(rayv1.FailedDeleteAllPods, fmt.Sprintf("deleting the cluster's pods: %v", err))
		return err
	}
	gone := map[string]bool{}
	for _, p := range s.pods {
		r.expectations.Deleted(expectationKey(c, p.Labels[rayv1.RayNodeGroupLabelKey]), p.Name)
		gone[p.Name] = true
	}
	s.dropPods(gone)
	s.requeue = true
	return nil
}

// groupPods are the live pods of one group, with the expectations applied:
// pods we deleted are left out, and pods we created that the cache has not
// shown yet are counted as ghosts.
func (r *Reconciler) groupPods(s *scope, group string) (pods []*corev1.Pod, ghosts int) {
	key := expectationKey(s.cluster, group)
	var cached []expectations.Pod
	for i := range s.pods {
		p := &s.pods[i]
		if p.Labels[rayv1.RayNodeGroupLabelKey] == group {
			cached = append(cached, expectations.Pod{Name: p.Name, Terminating: !p.DeletionTimestamp.IsZero()})
		}
	}
	ghostNames, gone := r.expectations.Reconcile(key, cached)
	s.dropPods(gone)
	for i := range s.pods {
		p := &s.pods[i]
		if p.Labels[rayv1.RayNodeGroupLabelKey] == group && p.DeletionTimestamp.IsZero() {
			pods = append(pods, p)
		}
	}
	if len(ghostNames) > 0 || len(gone) > 0 {
		s.requeue = true
	}
	return pods, len(ghostNames)
}

// reconcileHead keeps exactly one head pod, replacing one that ended.
func (r *Reconciler) reconcileHead(ctx context.Context, s *scope) error {
	c := s.cluster
	pods, ghosts := r.groupPods(s, rayv1.HeadGroupName)
	var live []*corev1.Pod
	for _, p := range pods {
		if podEnded(p) && c.Annotations[rayv1.DisableProvisionedHeadRestartKey] != "true" {
			if err := r.deletePod(ctx, s, p, "the head pod ended ("+string(p.Status.Phase)+")"); err != nil {
				return err
			}
			continue
		}
		live = append(live, p)
	}
	switch n := len(live) + ghosts; {
	case n == 0:
		return r.createPod(ctx, s, rayv1.HeadGroupName, desired.HeadPod(c, r.podOptions(c, desired.PodOptions{})))
	case n > 1 && len(live) > 1:
		// Keep the most ready, oldest head; a second head splits the cluster.
		sortForDeletion(live)
		for _, p := range live[:len(live)-1] {
			if err := r.deletePod(ctx, s, p, "more than one head pod"); err != nil {
				return err
			}
		}
	}
	return nil
}

// reconcileGroup scales one worker group: replace ended pods, delete the
// pods the autoscaler named, then create or (without the autoscaler) delete
// replicas until the group has what the spec asks for.
func (r *Reconciler) reconcileGroup(ctx context.Context, s *scope, g *rayv1.WorkerGroupSpec) error {
	c := s.cluster
	pods, ghosts := r.groupPods(s, g.GroupName)

	toDelete := map[string]bool{}
	for _, name := range g.ScaleStrategy.WorkersToDelete {
		toDelete[name] = true
	}
	var live []*corev1.Pod
	for _, p := range pods {
		switch {
		case toDelete[p.Name]:
			if err := r.deleteReplica(ctx, s, pods, p, "named in scaleStrategy.workersToDelete"); err != nil {
				return err
			}
		case podEnded(p):
			if err := r.deleteReplica(ctx, s, pods, p, "the pod ended ("+string(p.Status.Phase)+")"); err != nil {
				return err
			}
		default:
			live = append(live, p)
		}
	}
	live = slices.DeleteFunc(live, func(p *corev1.Pod) bool { return !p.DeletionTimestamp.IsZero() || deletedNow(s, p) })

	replicas := groupByReplica(live, g)
	hosts := int(desired.HostsPerReplica(g))
	want := int(desired.GroupReplicas(g))
	create, remove := scaleGroup(len(replicas), ghosts, hosts, want, !desired.AutoscalerEnabled(c))
	have := want - create
	switch {
	case create > 0:
		var batch []*corev1.Pod
		for i := 0; i < create; i++ {
			replicaName := ""
			if hosts > 1 {
				replicaName = fmt.Sprintf("%s-%s", g.GroupName, utilrand.String(5))
			}
			for h := 0; h < hosts; h++ {
				opts := desired.PodOptions{ReplicaName: replicaName, ReplicaIndex: have + i, HostIndex: h}
				batch = append(batch, desired.WorkerPod(c, g, r.podOptions(c, opts)))
			}
		}
		if err := r.createPods(ctx, s, g.GroupName, batch); err != nil {
			return err
		}
		if c.Status.ObservedGeneration != 0 {
			// A scale-up is news; the pods of a new cluster are not (and at
			// a thousand clusters the events would be a seventh of the calls).
			r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "CreatedWorkerPods", "Scale", "created %d worker replica(s) in group %s", create, g.GroupName)
		}
	case remove > 0:
		// Without the autoscaler the operator picks: not-ready first, newest first.
		sort.SliceStable(replicas, func(i, j int) bool { return replicaDeletionLess(replicas[i], replicas[j]) })
		for _, rep := range replicas[:remove] {
			for _, p := range rep {
				if err := r.deletePod(ctx, s, p, "scaling down group "+g.GroupName); err != nil {
					return err
				}
			}
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "DeletedWorkerPods", "Scale", "deleted %d worker replica(s) in group %s", remove, g.GroupName)
	}
	return nil
}

// scaleGroup decides how many replicas of a group to create or remove,
// given the replicas the cache shows, the pods created but not yet shown
// (ghosts) and the hosts per replica. Ghosts count toward creation — a
// replica is never created twice — but a scale-down waits until there are
// none: a multi-host replica half in the cache looks like one replica plus
// a ghost, and removing "the extra one" would delete the visible half and
// leave the other half alone forever.
func scaleGroup(replicas, ghosts, hosts, want int, mayRemove bool) (create, remove int) {
	have := replicas + (ghosts+hosts-1)/hosts
	switch {
	case have < want:
		return want - have, 0
	case replicas > want && ghosts == 0 && mayRemove:
		return 0, replicas - want
	}
	return 0, 0
}

// deleteReplica deletes pod p and, in a multi-host group, the other hosts of its replica.
func (r *Reconciler) deleteReplica(ctx context.Context, s *scope, pods []*corev1.Pod, p *corev1.Pod, why string) error {
	replica := p.Labels[desired.WorkerReplicaNameLabel]
	for _, q := range pods {
		if q == p || (replica != "" && q.Labels[desired.WorkerReplicaNameLabel] == replica) {
			if deletedNow(s, q) {
				continue
			}
			if err := r.deletePod(ctx, s, q, why); err != nil {
				return err
			}
		}
	}
	return nil
}

func deletedNow(s *scope, p *corev1.Pod) bool {
	return !slices.ContainsFunc(s.pods, func(q corev1.Pod) bool { return q.Name == p.Name })
}

func (r *Reconciler) createPod(ctx context.Context, s *scope, group string, pod *corev1.Pod) error {
	return r.createPods(ctx, s, group, []*corev1.Pod{pod})
}

// maxParallelCreates bounds the pod creates one reconcile has in flight.
const maxParallelCreates = 8

// createPods creates the pods concurrently: a group's scale-up costs one
// round trip instead of one per pod. Each created pod is recorded in the
// expectations before the reconcile ends.
func (r *Reconciler) createPods(ctx context.Context, s *scope, group string, pods []*corev1.Pod) error {
	c := s.cluster
	errs := make([]error, len(pods))
	sem := make(chan struct{}, maxParallelCreates)
	var wg sync.WaitGroup
	for i, pod := range pods {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = r.Client.Create(ctx, pod)
		}()
	}
	wg.Wait()
	var firstErr error
	var created []*corev1.Pod
	for i, pod := range pods {
		if errs[i] != nil {
			if firstErr == nil {
				firstErr = errs[i]
			}
			continue
		}
		r.expectations.Created(expectationKey(c, group), pod.Name)
		s.pods = append(s.pods, *pod)
		created = append(created, pod)
	}
	r.reportRuntimeImage(c, group, created)
	s.requeue = true
	if firstErr != nil {
		reason := rayv1.FailedCreateWorkerPod
		if group == rayv1.HeadGroupName {
			reason = rayv1.FailedCreateHeadPod
		}
		s.fail(reason, fmt.Sprintf("creating a pod in group %s: %v", group, firstErr))
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, reason, "Create", "creating a pod in group %s: %v", group, firstErr)
	}
	return firstErr
}

func (r *Reconciler) deletePod(ctx context.Context, s *scope, p *corev1.Pod, why string) error {
	c := s.cluster
	group := p.Labels[rayv1.RayNodeGroupLabelKey]
	err := r.Client.Delete(ctx, p, client.Preconditions{UID: &p.UID})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		s.fail(rayv1.FailedDeleteWorkerPod, fmt.Sprintf("deleting pod %s (%s): %v", p.Name, why, err))
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, rayv1.FailedDeleteWorkerPod, "Delete", "deleting pod %s: %v", p.Name, err)
		return err
	}
	r.expectations.Deleted(expectationKey(c, group), p.Name)
	s.dropPods(map[string]bool{p.Name: true})
	s.requeue = true
	return nil
}

func (r *Reconciler) podOptions(c *rayv1.RayCluster, o desired.PodOptions) desired.PodOptions {
	o.ClusterDomain = r.ClusterDomain
	o.Defaults = r.PodDefaults
	o.BatchScheduler = r.BatchScheduler
	o.RuntimeImage = r.RuntimeImage
	if desired.RecreateEnabled(c) {
		o.RecreateHash = desired.RecreateHash(c)
	}
	return o
}

func expectationKey(c *rayv1.RayCluster, group string) string {
	return c.Namespace + "/" + c.Name + "/" + group
}

func (r *Reconciler) forget(namespace, name string) {
	if r.expectations != nil {
		r.expectations.Forget(namespace + "/" + name + "/")
	}
	r.imageNotes.forget(namespace + "/" + name)
	forgetMetrics(namespace, name)
}

// podEnded is true for a pod that will not run again: a terminal phase, or
// the Ray container terminated under restartPolicy Never.
func podEnded(p *corev1.Pod) bool {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return true
	}
	if p.Spec.RestartPolicy == corev1.RestartPolicyNever && len(p.Spec.Containers) > 0 {
		for _, cs := range p.Status.ContainerStatuses {
			if cs.Name == p.Spec.Containers[0].Name && cs.State.Terminated != nil {
				return true
			}
		}
	}
	return false
}

// groupByReplica groups a multi-host group's pods by replica; each pod of a
// single-host group is its own replica.
func groupByReplica(pods []*corev1.Pod, g *rayv1.WorkerGroupSpec) [][]*corev1.Pod {
	if desired.HostsPerReplica(g) == 1 {
		out := make([][]*corev1.Pod, len(pods))
		for i, p := range pods {
			out[i] = []*corev1.Pod{p}
		}
		return out
	}
	byName := map[string][]*corev1.Pod{}
	var order []string
	for _, p := range pods {
		name := p.Labels[desired.WorkerReplicaNameLabel]
		if _, ok := byName[name]; !ok {
			order = append(order, name)
		}
		byName[name] = append(byName[name], p)
	}
	out := make([][]*corev1.Pod, 0, len(order))
	for _, name := range order {
		out = append(out, byName[name])
	}
	return out
}

// replicaDeletionLess orders replicas for scale-down: not ready first, then newest first.
func replicaDeletionLess(a, b []*corev1.Pod) bool {
	ra, rb := allReady(a), allReady(b)
	if ra != rb {
		return !ra
	}
	return newest(a).After(newest(b).Time)
}

func allReady(pods []*corev1.Pod) bool {
	for _, p := range pods {
		if !podReady(p) {
			return false
		}
	}
	return true
}

func newest(pods []*corev1.Pod) (t metav1.Time) {
	for _, p := range pods {
		if p.CreationTimestamp.After(t.Time) {
			t = p.CreationTimestamp
		}
	}
	return t
}

// sortForDeletion puts the heads to delete first and the one to keep last.
func sortForDeletion(pods []*corev1.Pod) {
	sort.SliceStable(pods, func(i, j int) bool {
		return replicaDeletionLess([]*corev1.Pod{pods[i]}, []*corev1.Pod{pods[j]})
	})
}
