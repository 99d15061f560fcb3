package rayjob_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
)

func clusterGone(ctx context.Context, ns, name string) (bool, error) {
	err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &rayv1.RayCluster{})
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

func dashboardStatus(ctx context.Context, id string) string {
	c, _ := jobclient.New(headAddr)
	d, err := c.Get(ctx, id)
	if err != nil {
		return ""
	}
	return string(d.Status)
}

func TestActiveDeadlineStopsTheJob(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "deadline", "sleep 600", rayv1.HTTPMode)
	job.Spec.ActiveDeadlineSeconds = ptr.To[int32](120)
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the job running", func() (bool, error) {
		j, err := getJob(ctx, "lifecycle", "deadline")
		return err == nil && j.Status.JobStatus == rayv1.JobStatusRunning, err
	})
	clk.Step(121 * time.Second)
	if err := poke(ctx, "lifecycle", "deadline"); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "lifecycle", "deadline", rayv1.JobDeploymentStatusFailed)
	if j.Status.Reason != rayv1.DeadlineExceeded {
		t.Fatalf("reason %s (%s), want DeadlineExceeded", j.Status.Reason, j.Status.Message)
	}
	eventually(t, "the job stopped on the cluster", func() (bool, error) {
		return dashboardStatus(ctx, j.Status.JobId) == "STOPPED", nil
	})
}

func TestPreRunningDeadlineWhenTheClusterNeverComesUp(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "stuck-prerun", "true", rayv1.HTTPMode)
	job.Spec.PreRunningDeadlineSeconds = ptr.To[int32](60)
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitForDeployment(t, ctx, "lifecycle", "stuck-prerun", rayv1.JobDeploymentStatusInitializing)
	clk.Step(61 * time.Second)
	if err := poke(ctx, "lifecycle", "stuck-prerun"); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "lifecycle", "stuck-prerun", rayv1.JobDeploymentStatusFailed)
	if j.Status.Reason != rayv1.PreRunningDeadlineExceeded || !strings.Contains(j.Status.Message, "preRunningDeadlineSeconds (60 s)") {
		t.Fatalf("reason %s: %s", j.Status.Reason, j.Status.Message)
	}
}

func TestUnstartableHeadFailsWithTheHeadsReason(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newJob("lifecycle", "stuck-image", "true", rayv1.HTTPMode)); err != nil {
		t.Fatal(err)
	}
	// Play a kubelet that cannot pull the image.
	var head corev1.Pod
	eventually(t, "the head pod", func() (bool, error) {
		list := &corev1.PodList{}
		if err := k8s.List(ctx, list, client.InNamespace("lifecycle"), client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"}); err != nil {
			return false, err
		}
		for _, p := range list.Items {
			if strings.HasPrefix(p.Labels[rayv1.RayClusterLabelKey], "stuck-image") {
				head = p
				return true, nil
			}
		}
		return false, nil
	})
	head.Status.Phase = corev1.PodPending
	head.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "ray-head", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
		Reason: "ImagePullBackOff", Message: `Back-off pulling image "goray/goray:dev"`}}}}
	if err := k8s.Status().Update(ctx, &head); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cluster to report ImagePullBackOff", func() (bool, error) {
		j, err := getJob(ctx, "lifecycle", "stuck-image")
		return err == nil && strings.Contains(j.Status.RayClusterStatus.Reason+conditionReasons(j.Status.RayClusterStatus), "ImagePullBackOff"), err
	})
	clk.Step(91 * time.Second)
	if err := poke(ctx, "lifecycle", "stuck-image"); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "lifecycle", "stuck-image", rayv1.JobDeploymentStatusFailed)
	if j.Status.Reason != "ClusterStartFailed" || !strings.Contains(j.Status.Message, "ImagePullBackOff") {
		t.Fatalf("reason %s: %s", j.Status.Reason, j.Status.Message)
	}
}

func conditionReasons(st rayv1.RayClusterStatus) string {
	var out []string
	for _, c := range st.Conditions {
		out = append(out, c.Reason)
	}
	return strings.Join(out, ",")
}

func TestShutdownAfterJobFinishesHonoursTTL(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "ttl", "true", rayv1.HTTPMode)
	job.Spec.ShutdownAfterJobFinishes = true
	job.Spec.TTLSecondsAfterFinished = 600
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "lifecycle", "ttl", rayv1.JobDeploymentStatusComplete)
	if gone, _ := clusterGone(ctx, "lifecycle", j.Status.RayClusterName); gone {
		t.Fatal("the cluster was deleted before the TTL")
	}
	clk.Step(601 * time.Second)
	if err := poke(ctx, "lifecycle", "ttl"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cluster deleted after the TTL", func() (bool, error) { return clusterGone(ctx, "lifecycle", j.Status.RayClusterName) })
}

func TestBackoffLimitRetriesOnANewCluster(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "retry", "exit 1", rayv1.HTTPMode)
	job.Spec.BackoffLimit = ptr.To[int32](1)
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	var clusters []string
	eventually(t, "two failed attempts", func() (bool, error) {
		j, err := getJob(ctx, "lifecycle", "retry")
		if err != nil {
			return false, err
		}
		if n := j.Status.RayClusterName; n != "" && (len(clusters) == 0 || clusters[len(clusters)-1] != n) {
			clusters = append(clusters, n)
		}
		return j.Status.JobDeploymentStatus == rayv1.JobDeploymentStatusFailed && ptr.Deref(j.Status.Failed, 0) == 2, nil
	})
	if len(clusters) != 2 {
		t.Fatalf("attempts ran on clusters %v, want two different ones", clusters)
	}
	if gone, _ := clusterGone(ctx, "lifecycle", clusters[0]); !gone {
		t.Errorf("the first attempt's cluster %s was not deleted", clusters[0])
	}
	j, _ := getJob(ctx, "lifecycle", "retry")
	if j.Status.Reason != rayv1.AppFailed {
		t.Errorf("final reason %s", j.Status.Reason)
	}
}

func TestSuspendDeletesEverythingAndResumeRuns(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "kueue", "sleep 600", rayv1.HTTPMode)
	job.Spec.ShutdownAfterJobFinishes = true
	job.Spec.Suspend = true
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	waitForDeployment(t, ctx, "lifecycle", "kueue", rayv1.JobDeploymentStatusSuspended)
	list := &rayv1.RayClusterList{}
	_ = k8s.List(ctx, list, client.InNamespace("lifecycle"), client.MatchingLabels{rayv1.RayOriginatedFromCRNameKey: "kueue"})
	if len(list.Items) != 0 {
		t.Fatalf("a suspended RayJob created a cluster")
	}

	setSuspend := func(v bool) {
		j, _ := getJob(ctx, "lifecycle", "kueue")
		before := j.DeepCopy()
		j.Spec.Suspend = v
		if err := k8s.Patch(ctx, j, client.MergeFrom(before)); err != nil {
			t.Fatal(err)
		}
	}
	setSuspend(false)
	eventually(t, "the resumed job running", func() (bool, error) {
		j, err := getJob(ctx, "lifecycle", "kueue")
		return err == nil && j.Status.JobStatus == rayv1.JobStatusRunning, err
	})
	running, _ := getJob(ctx, "lifecycle", "kueue")
	setSuspend(true)
	waitForDeployment(t, ctx, "lifecycle", "kueue", rayv1.JobDeploymentStatusSuspended)
	if gone, _ := clusterGone(ctx, "lifecycle", running.Status.RayClusterName); !gone {
		t.Fatal("suspend left the cluster running")
	}
	eventually(t, "the job stopped on the cluster", func() (bool, error) {
		return dashboardStatus(ctx, running.Status.JobId) == "STOPPED", nil
	})
}

func TestDeletionRuleDeletesClusterOnSuccess(t *testing.T) {
	ctx := context.Background()
	job := newJob("lifecycle", "rules", "true", rayv1.HTTPMode)
	job.Spec.DeletionStrategy = &rayv1.DeletionStrategy{DeletionRules: []rayv1.DeletionRule{
		{Policy: rayv1.DeleteCluster, Condition: rayv1.DeletionCondition{JobStatus: ptr.To(rayv1.JobStatusSucceeded), TTLSeconds: 30}},
		{Policy: rayv1.DeleteSelf, Condition: rayv1.DeletionCondition{JobStatus: ptr.To(rayv1.JobStatusFailed)}},
	}}
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "lifecycle", "rules", rayv1.JobDeploymentStatusComplete)
	clk.Step(31 * time.Second)
	if err := poke(ctx, "lifecycle", "rules"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cluster deleted by the rule", func() (bool, error) { return clusterGone(ctx, "lifecycle", j.Status.RayClusterName) })
	if _, err := getJob(ctx, "lifecycle", "rules"); err != nil {
		t.Fatalf("the DeleteSelf rule for FAILED applied to a succeeded job: %v", err)
	}
}

func TestDeletingTheRayJobStopsTheJob(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newJob("lifecycle", "delete-me", "sleep 600", rayv1.HTTPMode)); err != nil {
		t.Fatal(err)
	}
	var id string
	eventually(t, "the job running", func() (bool, error) {
		j, err := getJob(ctx, "lifecycle", "delete-me")
		id = j.Status.JobId
		return err == nil && j.Status.JobStatus == rayv1.JobStatusRunning, err
	})
	j, _ := getJob(ctx, "lifecycle", "delete-me")
	if err := k8s.Delete(ctx, j); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the RayJob gone and its job stopped", func() (bool, error) {
		_, err := getJob(ctx, "lifecycle", "delete-me")
		return apierrors.IsNotFound(err) && dashboardStatus(ctx, id) == "STOPPED", nil
	})
}
