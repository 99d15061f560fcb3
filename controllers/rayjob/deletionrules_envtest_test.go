package rayjob_test

import (
	"context"
	"testing"

	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// TestDeleteWorkersOnAnAutoscalingClusterIsValidationFailed: a DeleteWorkers
// rule cannot be applied to an autoscaling cluster (the RayCluster refuses a
// suspended group while autoscaling). As in KubeRay, the RayJob is
// ValidationFailed at once, naming the rule, and no cluster is created —
// instead of a job that runs and then fails every reconcile on the patch.
func TestDeleteWorkersOnAnAutoscalingClusterIsValidationFailed(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "workers-autoscaling", "true", rayv1.HTTPMode)
	job.Spec.RayClusterSpec.EnableInTreeAutoscaling = ptr.To(true)
	job.Spec.DeletionStrategy = &rayv1.DeletionStrategy{DeletionRules: []rayv1.DeletionRule{
		{Policy: rayv1.DeleteWorkers, Condition: rayv1.DeletionCondition{JobStatus: ptr.To(rayv1.JobStatusSucceeded)}},
	}}
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "lifecycle", "workers-autoscaling", rayv1.JobDeploymentStatusValidationFailed, rayv1.JobDeploymentStatusInitializing,
		rayv1.JobDeploymentStatusRunning, rayv1.JobDeploymentStatusComplete)
	const want = "spec.deletionStrategy.deletionRules[0]: DeleteWorkers is not supported with spec.rayClusterSpec.enableInTreeAutoscaling: " +
		"the autoscaler owns the worker groups' replicas (delete the cluster with DeleteCluster instead)"
	if j.Status.JobDeploymentStatus != rayv1.JobDeploymentStatusValidationFailed || j.Status.Reason != rayv1.ValidationFailed || j.Status.Message != want {
		t.Fatalf("status %s/%s %q, want ValidationFailed: %s", j.Status.JobDeploymentStatus, j.Status.Reason, j.Status.Message, want)
	}
	clusters := &rayv1.RayClusterList{}
	if err := k8s.List(ctx, clusters); err != nil {
		t.Fatal(err)
	}
	for _, c := range clusters.Items {
		if c.Labels[rayv1.RayOriginatedFromCRNameKey] == "workers-autoscaling" {
			t.Fatalf("a cluster %s was created for an invalid RayJob", c.Name)
		}
	}
}
