package rayservice

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// setConditions derives Ready, UpgradeInProgress and the suspend
// conditions from what the reconcile found.
func setConditions(s *scope) {
	st := &s.rs.Status
	now := metav1.NewTime(s.now)
	set := func(t rayv1.RayServiceConditionType, ok bool, reason, msg string) {
		status := metav1.ConditionFalse
		if ok {
			status = metav1.ConditionTrue
		}
		c := metav1.Condition{Type: string(t), Status: status, Reason: reason, Message: msg, LastTransitionTime: now, ObservedGeneration: s.rs.Generation}
		meta.SetStatusCondition(&st.Conditions, c)
	}
	st.NumServeEndpoints = s.endpoints
	switch {
	case s.invalid != "":
		set(rayv1.RayServiceReady, false, rayv1.RayServiceValidationFailed, s.invalid)
	case s.rs.Spec.Suspend:
		set(rayv1.RayServiceReady, false, "Suspended", "the RayService is suspended")
		set(rayv1.RayServiceSuspended, true, "SuspendComplete", "every cluster was deleted")
	case s.timedOut:
		set(rayv1.RayServiceReady, false, rayv1.RayServiceInitializingTimeout, "no cluster served all applications within the ray.io/initializing-timeout")
	case s.active == nil:
		set(rayv1.RayServiceReady, false, rayv1.RayServiceInitializing, pendingMessage(st.PendingServiceStatus, s.apiErrors[st.PendingServiceStatus.RayClusterName]))
	case s.endpoints == 0:
		set(rayv1.RayServiceReady, false, rayv1.ZeroServeEndpoints, "no pod of the active cluster has a healthy serve proxy")
	default:
		set(rayv1.RayServiceReady, true, rayv1.NonZeroServeEndpoints, fmt.Sprintf("%d serve endpoint(s) on RayCluster %s", s.endpoints, s.active.Name))
	}
	if !s.rs.Spec.Suspend && meta.FindStatusCondition(st.Conditions, string(rayv1.RayServiceSuspended)) != nil {
		set(rayv1.RayServiceSuspended, false, "RayServiceResumed", "")
	}
	switch {
	case s.active != nil && s.pending != nil:
		msg := pendingMessage(st.PendingServiceStatus, s.apiErrors[st.PendingServiceStatus.RayClusterName])
		if s.upgradeNote != "" {
			msg += "; incremental upgrade: " + s.upgradeNote
		}
		set(rayv1.UpgradeInProgress, true, rayv1.BothActivePendingClustersExist, msg)
	case s.active == nil:
		set(rayv1.UpgradeInProgress, false, rayv1.NoActiveCluster, "")
	default:
		set(rayv1.UpgradeInProgress, false, rayv1.NoPendingCluster, "")
	}
	switch {
	case s.rollback:
		set(rayv1.RollbackInProgress, true, "DesiredClusterSpecChanged", "the spec changed during an incremental upgrade: "+s.upgradeNote)
	case meta.FindStatusCondition(st.Conditions, string(rayv1.RollbackInProgress)) != nil && s.invalid == "":
		set(rayv1.RollbackInProgress, false, "RollbackComplete", "")
	}
	st.ServiceStatus = rayv1.NotRunning
	if meta.IsStatusConditionTrue(st.Conditions, string(rayv1.RayServiceReady)) {
		st.ServiceStatus = rayv1.Running
	}
}

// pendingMessage says why the pending cluster does not serve yet: its head,
// its serve API refusing the operator (apiErr), or the applications that
// are not RUNNING.
func pendingMessage(p rayv1.RayServiceStatus, apiErr string) string {
	if p.RayClusterName == "" {
		return "waiting for a cluster"
	}
	if c := meta.FindStatusCondition(p.RayClusterStatus.Conditions, string(rayv1.HeadPodReady)); c == nil || c.Status != metav1.ConditionTrue {
		reason := "not created yet"
		if c != nil {
			reason = c.Reason
			if c.Message != "" {
				reason += ": " + c.Message
			}
		}
		return fmt.Sprintf("RayCluster %s: the head pod is not ready (%s)", p.RayClusterName, reason)
	}
	if apiErr != "" {
		return fmt.Sprintf("RayCluster %s: %s", p.RayClusterName, apiErr)
	}
	for name, app := range p.Applications {
		if app.Status != rayv1.ApplicationStatusRunning {
			return fmt.Sprintf("RayCluster %s: application %s is %s %s", p.RayClusterName, name, app.Status, app.Message)
		}
	}
	if len(p.Applications) == 0 {
		return fmt.Sprintf("RayCluster %s: waiting for the serve applications", p.RayClusterName)
	}
	return fmt.Sprintf("RayCluster %s serves every application", p.RayClusterName)
}
