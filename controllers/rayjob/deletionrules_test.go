package rayjob

import (
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestValidateDeletionStrategy(t *testing.T) {
	onJob := func(p rayv1.DeletionPolicyType, s rayv1.JobStatus, ttl int32) rayv1.DeletionRule {
		return rayv1.DeletionRule{Policy: p, Condition: rayv1.DeletionCondition{JobStatus: ptr.To(s), TTLSeconds: ttl}}
	}
	onDeploy := func(p rayv1.DeletionPolicyType, s rayv1.JobDeploymentStatus, ttl int32) rayv1.DeletionRule {
		return rayv1.DeletionRule{Policy: p, Condition: rayv1.DeletionCondition{JobDeploymentStatus: ptr.To(s), TTLSeconds: ttl}}
	}
	rules := func(r ...rayv1.DeletionRule) *rayv1.DeletionStrategy {
		return &rayv1.DeletionStrategy{DeletionRules: r}
	}
	legacy := func(success, failure rayv1.DeletionPolicyType) *rayv1.DeletionStrategy {
		return &rayv1.DeletionStrategy{OnSuccess: &rayv1.DeletionPolicy{Policy: ptr.To(success)}, OnFailure: &rayv1.DeletionPolicy{Policy: ptr.To(failure)}}
	}
	autoscaling := &rayv1.RayClusterSpec{EnableInTreeAutoscaling: ptr.To(true)}
	fixed := &rayv1.RayClusterSpec{EnableInTreeAutoscaling: ptr.To(false)}
	selector := map[string]string{rayv1.RayClusterLabelKey: "shared"}
	for _, c := range []struct {
		name string
		spec rayv1.RayJobSpec
		want string // the message; "" means valid
	}{
		{name: "none"},
		{name: "DeleteWorkers on a fixed cluster", spec: rayv1.RayJobSpec{RayClusterSpec: fixed, DeletionStrategy: rules(
			onJob(rayv1.DeleteWorkers, rayv1.JobStatusSucceeded, 0), onJob(rayv1.DeleteCluster, rayv1.JobStatusSucceeded, 60),
			onJob(rayv1.DeleteSelf, rayv1.JobStatusSucceeded, 60), onDeploy(rayv1.DeleteCluster, rayv1.JobDeploymentStatusFailed, 0))}},
		{name: "DeleteCluster and DeleteSelf on an autoscaling cluster", spec: rayv1.RayJobSpec{RayClusterSpec: autoscaling, DeletionStrategy: rules(
			onJob(rayv1.DeleteCluster, rayv1.JobStatusFailed, 0), onJob(rayv1.DeleteSelf, rayv1.JobStatusFailed, 10))}},
		{name: "the same policy for two conditions", spec: rayv1.RayJobSpec{DeletionStrategy: rules(
			onJob(rayv1.DeleteCluster, rayv1.JobStatusFailed, 0), onJob(rayv1.DeleteCluster, rayv1.JobStatusSucceeded, 0))}},
		{name: "DeleteSelf and DeleteNone with a selector", spec: rayv1.RayJobSpec{ClusterSelector: selector, DeletionStrategy: rules(
			onJob(rayv1.DeleteSelf, rayv1.JobStatusFailed, 0), onJob(rayv1.DeleteNone, rayv1.JobStatusSucceeded, 0))}},

		{name: "DeleteWorkers rule on an autoscaling cluster", spec: rayv1.RayJobSpec{RayClusterSpec: autoscaling, DeletionStrategy: rules(
			onJob(rayv1.DeleteCluster, rayv1.JobStatusFailed, 0), onJob(rayv1.DeleteWorkers, rayv1.JobStatusSucceeded, 0))},
			want: "spec.deletionStrategy.deletionRules[1]: DeleteWorkers is not supported with spec.rayClusterSpec.enableInTreeAutoscaling: the autoscaler owns the worker groups' replicas (delete the cluster with DeleteCluster instead)"},
		{name: "legacy DeleteWorkers on an autoscaling cluster", spec: rayv1.RayJobSpec{RayClusterSpec: autoscaling, DeletionStrategy: legacy(rayv1.DeleteCluster, rayv1.DeleteWorkers)},
			want: "spec.deletionStrategy.onFailure: DeleteWorkers is not supported with spec.rayClusterSpec.enableInTreeAutoscaling"},
		{name: "DeleteCluster with a selector", spec: rayv1.RayJobSpec{ClusterSelector: selector, DeletionStrategy: rules(onJob(rayv1.DeleteCluster, rayv1.JobStatusFailed, 0))},
			want: "spec.deletionStrategy.deletionRules[0]: DeleteCluster is not supported with spec.clusterSelector"},
		{name: "legacy DeleteWorkers with a selector", spec: rayv1.RayJobSpec{ClusterSelector: selector, DeletionStrategy: legacy(rayv1.DeleteWorkers, rayv1.DeleteNone)},
			want: "spec.deletionStrategy.onSuccess: DeleteWorkers is not supported with spec.clusterSelector"},
		{name: "legacy DeleteNone with shutdownAfterJobFinishes", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true, DeletionStrategy: legacy(rayv1.DeleteCluster, rayv1.DeleteNone)},
			want: "spec.deletionStrategy.onFailure: DeleteNone contradicts spec.shutdownAfterJobFinishes: true"},
		{name: "a duplicate rule", spec: rayv1.RayJobSpec{DeletionStrategy: rules(
			onDeploy(rayv1.DeleteSelf, rayv1.JobDeploymentStatusFailed, 0), onDeploy(rayv1.DeleteSelf, rayv1.JobDeploymentStatusFailed, 30))},
			want: "spec.deletionStrategy.deletionRules[1]: a second DeleteSelf rule for the same condition"},
		{name: "the cluster before its workers", spec: rayv1.RayJobSpec{DeletionStrategy: rules(
			onJob(rayv1.DeleteCluster, rayv1.JobStatusSucceeded, 10), onJob(rayv1.DeleteWorkers, rayv1.JobStatusSucceeded, 60))},
			want: "spec.deletionStrategy.deletionRules: for jobStatus SUCCEEDED the DeleteCluster ttlSeconds (10) must be at least the DeleteWorkers ttlSeconds (60)"},
		{name: "the RayJob before its cluster", spec: rayv1.RayJobSpec{DeletionStrategy: rules(
			onDeploy(rayv1.DeleteSelf, rayv1.JobDeploymentStatusFailed, 0), onDeploy(rayv1.DeleteCluster, rayv1.JobDeploymentStatusFailed, 5))},
			want: "for jobDeploymentStatus Failed the DeleteSelf ttlSeconds (0) must be at least the DeleteCluster ttlSeconds (5)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := validate(&rayv1.RayJob{Spec: c.spec})
			if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
				t.Errorf("validate = %q, want %q", got, c.want)
			}
		})
	}
}
