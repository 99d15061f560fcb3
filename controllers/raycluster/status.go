package raycluster

import (
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// observed is what a reconcile saw and did; computeStatus turns it into a status.
type observed struct {
	cluster     *rayv1.RayCluster
	pods        []corev1.Pod // live pods of the cluster after this reconcile's deletes
	headService *corev1.Service
	failure     *failure // a create or delete that failed, or an invalid spec
	suspending  bool     // pods are being deleted for a suspend
	suspended   bool     // suspend finished: no pods left
	now         time.Time
}

// failure is what the ReplicaFailure condition reports.
type failure struct {
	reason, message string
}

// computeStatus is the cluster's new status. It is a pure function of what
// the reconcile observed; the caller writes it only when it changed.
func computeStatus(o observed) rayv1.RayClusterStatus {
	c := o.cluster
	old := c.Status
	st := *old.DeepCopy()
	now := metav1.NewTime(o.now)

	counts := desired.CountWorkers(c)
	res := desired.DesiredResources(c)
	st.DesiredWorkerReplicas, st.MinWorkerReplicas, st.MaxWorkerReplicas = counts.Desired, counts.Min, counts.Max
	st.DesiredCPU, st.DesiredMemory, st.DesiredGPU, st.DesiredTPU = res.CPU, res.Memory, res.GPU, res.TPU
	st.ObservedGeneration = c.Generation

	var head *corev1.Pod
	st.ReadyWorkerReplicas, st.AvailableWorkerReplicas = 0, 0
	for i := range o.pods {
		p := &o.pods[i]
		switch p.Labels[rayv1.RayNodeTypeLabelKey] {
		case string(rayv1.HeadNode):
			if head == nil || podReady(p) {
				head = p
			}
		case string(rayv1.WorkerNode):
			if p.Status.Phase == corev1.PodRunning {
				st.AvailableWorkerReplicas++
				if podReady(p) {
					st.ReadyWorkerReplicas++
				}
			}
		}
	}

	st.Head = rayv1.HeadInfo{ServiceName: desired.HeadServiceName(c)}
	if head != nil {
		st.Head.PodName, st.Head.PodIP = head.Name, head.Status.PodIP
	}
	st.Endpoints = nil
	if svc := o.headService; svc != nil {
		st.Head.ServiceIP = svc.Spec.ClusterIP
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			// A headless Service resolves to the head pod itself.
			st.Head.ServiceIP = st.Head.PodIP
		}
		st.Endpoints = map[string]string{}
		for _, p := range svc.Spec.Ports {
			port := p.Port
			if p.NodePort != 0 {
				port = p.NodePort
			}
			st.Endpoints[p.Name] = strconv.Itoa(int(port))
		}
	}

	setHeadPodReady(&st, head, now)
	allReady := head != nil && podReady(head) && st.ReadyWorkerReplicas >= counts.Desired && workerPodCount(o.pods) == counts.Desired
	setProvisioned(&st, allReady, now)
	setReplicaFailure(&st, o.failure, now)
	setSuspension(&st, o.suspending, o.suspended, now)

	switch {
	case o.suspended:
		st.State = rayv1.Suspended
	case old.State == rayv1.Suspended:
		st.State = ""
		if allReady {
			st.State = rayv1.Ready
		}
	case allReady:
		st.State = rayv1.Ready
	}
	st.Reason = ""
	if o.failure != nil {
		st.Reason = o.failure.message
	}
	if st.State != old.State && st.State != "" {
		if st.StateTransitionTimes == nil {
			st.StateTransitionTimes = map[rayv1.ClusterState]*metav1.Time{}
		}
		st.StateTransitionTimes[st.State] = &now
	}
	if !statusEqual(old, st) {
		st.LastUpdateTime = &now
	}
	return st
}

// statusEqual compares two statuses ignoring lastUpdateTime.
func statusEqual(a, b rayv1.RayClusterStatus) bool {
	a.LastUpdateTime, b.LastUpdateTime = nil, nil
	return equality.Semantic.DeepEqual(a, b)
}

func workerPodCount(pods []corev1.Pod) int32 {
	var n int32
	for i := range pods {
		if pods[i].Labels[rayv1.RayNodeTypeLabelKey] == string(rayv1.WorkerNode) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// setHeadPodReady mirrors the head pod's Ready condition.
func setHeadPodReady(st *rayv1.RayClusterStatus, head *corev1.Pod, now metav1.Time) {
	cond := metav1.Condition{Type: string(rayv1.HeadPodReady), Status: metav1.ConditionFalse, Reason: rayv1.HeadPodNotFound, Message: "the head pod does not exist yet"}
	if head != nil {
		switch {
		case podReady(head):
			cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, rayv1.HeadPodRunningAndReady, ""
		default:
			cond.Reason, cond.Message = notReadyReason(head)
		}
	}
	setCondition(st, cond, now)
}

// notReadyReason is the first waiting container's reason (ImagePullBackOff,
// CrashLoopBackOff, ...), which is what a person needs to see.
func notReadyReason(p *corev1.Pod) (string, string) {
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason, w.Message
		}
		if t := cs.State.Terminated; t != nil && t.Reason != "" {
			return t.Reason, t.Message
		}
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return c.Reason, c.Message
		}
	}
	return rayv1.UnknownReason, "the head pod is " + string(p.Status.Phase) + " and not ready"
}

// setProvisioned latches RayClusterProvisioned once every pod was ready.
func setProvisioned(st *rayv1.RayClusterStatus, allReady bool, now metav1.Time) {
	if meta.IsStatusConditionTrue(st.Conditions, string(rayv1.RayClusterProvisioned)) {
		return
	}
	cond := metav1.Condition{Type: string(rayv1.RayClusterProvisioned), Status: metav1.ConditionFalse,
		Reason: rayv1.RayClusterPodsProvisioning, Message: "waiting for the head and every desired worker pod to be running and ready"}
	if allReady {
		cond.Status, cond.Reason, cond.Message = metav1.ConditionTrue, rayv1.AllPodRunningAndReadyFirstTime, "all pods were running and ready"
	}
	setCondition(st, cond, now)
}

// setReplicaFailure reports a failed create or delete, or clears the condition.
func setReplicaFailure(st *rayv1.RayClusterStatus, f *failure, now metav1.Time) {
	if f == nil {
		meta.RemoveStatusCondition(&st.Conditions, string(rayv1.RayClusterReplicaFailure))
		return
	}
	setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterReplicaFailure), Status: metav1.ConditionTrue, Reason: f.reason, Message: f.message}, now)
}

// setSuspension keeps RayClusterSuspending and RayClusterSuspended exclusive.
func setSuspension(st *rayv1.RayClusterStatus, suspending, suspended bool, now metav1.Time) {
	switch {
	case suspending:
		setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterSuspending), Status: metav1.ConditionTrue, Reason: "SuspendRequested", Message: "deleting all pods"}, now)
		setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterSuspended), Status: metav1.ConditionFalse, Reason: "SuspendInProgress"}, now)
	case suspended:
		setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterSuspending), Status: metav1.ConditionFalse, Reason: "SuspendComplete"}, now)
		setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterSuspended), Status: metav1.ConditionTrue, Reason: "SuspendComplete", Message: "all pods were deleted"}, now)
	default:
		if meta.FindStatusCondition(st.Conditions, string(rayv1.RayClusterSuspended)) != nil {
			setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterSuspending), Status: metav1.ConditionFalse, Reason: "Resumed"}, now)
			setCondition(st, metav1.Condition{Type: string(rayv1.RayClusterSuspended), Status: metav1.ConditionFalse, Reason: "Resumed"}, now)
		}
	}
}

// setCondition sets a condition with the reconcile's time, so that the
// result does not depend on the wall clock.
func setCondition(st *rayv1.RayClusterStatus, c metav1.Condition, now metav1.Time) {
	c.LastTransitionTime = now
	meta.SetStatusCondition(&st.Conditions, c)
}
