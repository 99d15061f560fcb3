package rayjob

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// decideNow is the fixed "now" of the decision tests; nothing here reads
// the wall clock.
var decideNow = time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)

// ago is decideNow minus d, as the API's time type.
func ago(d time.Duration) *metav1.Time { return ptr.To(metav1.NewTime(decideNow.Add(-d))) }

// headCond is a RayCluster status whose HeadPodReady condition has the given
// status, reason and message and last changed `since` before decideNow.
func headCond(status metav1.ConditionStatus, reason, message string, since time.Duration) rayv1.RayClusterStatus {
	return rayv1.RayClusterStatus{Conditions: []metav1.Condition{{
		Type:               string(rayv1.HeadPodReady),
		Status:             status,
		Reason:             reason,
		Message:            message,
		LastTransitionTime: *ago(since),
	}}}
}

func TestPassedDeadline(t *testing.T) {
	const (
		initializing = rayv1.JobDeploymentStatusInitializing
		waiting      = rayv1.JobDeploymentStatusWaiting
		running      = rayv1.JobDeploymentStatusRunning
		complete     = rayv1.JobDeploymentStatusComplete
		failed       = rayv1.JobDeploymentStatusFailed
	)
	type tc struct {
		name       string
		active     *int32
		preRunning *int32
		elapsed    *time.Duration // nil: no status.startTime
		deploy     rayv1.JobDeploymentStatus
		jobStatus  rayv1.JobStatus
		cluster    rayv1.RayClusterStatus
		wantReason rayv1.JobFailedReason // "" means no deadline passed
		wantMsg    []string              // substrings of the message
		notMsg     []string              // substrings the message must not have
	}
	d := func(s int) *time.Duration { return ptr.To(time.Duration(s) * time.Second) }
	cases := []tc{
		{name: "no startTime, deadlines long past", active: ptr.To[int32](1), preRunning: ptr.To[int32](1), deploy: initializing},
		{name: "no deadlines", elapsed: d(1e6), deploy: running, jobStatus: rayv1.JobStatusRunning},

		{name: "active before", active: ptr.To[int32](60), elapsed: d(59), deploy: running, jobStatus: rayv1.JobStatusRunning},
		{name: "active at", active: ptr.To[int32](60), elapsed: d(60), deploy: running, jobStatus: rayv1.JobStatusRunning,
			wantReason: rayv1.DeadlineExceeded, wantMsg: []string{"activeDeadlineSeconds (60 s)"}},
		{name: "active after", active: ptr.To[int32](60), elapsed: d(61), deploy: running, jobStatus: rayv1.JobStatusRunning,
			wantReason: rayv1.DeadlineExceeded, wantMsg: []string{"activeDeadlineSeconds (60 s)"}},
		{name: "active while initializing", active: ptr.To[int32](60), elapsed: d(120), deploy: initializing,
			wantReason: rayv1.DeadlineExceeded},
		{name: "active wins over preRunning", active: ptr.To[int32](60), preRunning: ptr.To[int32](30), elapsed: d(90), deploy: initializing,
			wantReason: rayv1.DeadlineExceeded},
		{name: "active one ns short", active: ptr.To[int32](60), elapsed: ptr.To(60*time.Second - time.Nanosecond), deploy: running},

		{name: "preRunning before, initializing", preRunning: ptr.To[int32](30), elapsed: d(29), deploy: initializing},
		{name: "preRunning at, initializing", preRunning: ptr.To[int32](30), elapsed: d(30), deploy: initializing,
			wantReason: rayv1.PreRunningDeadlineExceeded, wantMsg: []string{"preRunningDeadlineSeconds (30 s)"}},
		{name: "preRunning after, initializing", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: initializing,
			wantReason: rayv1.PreRunningDeadlineExceeded, wantMsg: []string{"preRunningDeadlineSeconds (30 s)"}, notMsg: []string{"head pod"}},
		{name: "preRunning after, waiting", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: waiting,
			wantReason: rayv1.PreRunningDeadlineExceeded},
		{name: "preRunning after, running with job status new", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running, jobStatus: rayv1.JobStatusNew,
			wantReason: rayv1.PreRunningDeadlineExceeded},
		{name: "preRunning after, running with job PENDING", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running, jobStatus: rayv1.JobStatusPending,
			wantReason: rayv1.PreRunningDeadlineExceeded},
		{name: "preRunning after, job RUNNING", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running, jobStatus: rayv1.JobStatusRunning},
		{name: "preRunning after, job SUCCEEDED", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running, jobStatus: rayv1.JobStatusSucceeded},
		{name: "preRunning after, job FAILED", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running, jobStatus: rayv1.JobStatusFailed},
		{name: "preRunning after, job STOPPED", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running, jobStatus: rayv1.JobStatusStopped},
		{name: "preRunning after, Complete", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: complete, jobStatus: rayv1.JobStatusSucceeded},
		{name: "preRunning after, Failed", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: failed},
		{name: "preRunning after, Retrying", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: rayv1.JobDeploymentStatusRetrying},

		{name: "preRunning message names the head's reason and message", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: initializing,
			cluster:    headCond(metav1.ConditionFalse, "ImagePullBackOff", `Back-off pulling image "nope:1"`, time.Minute),
			wantReason: rayv1.PreRunningDeadlineExceeded,
			wantMsg:    []string{"preRunningDeadlineSeconds (30 s)", `; the head pod: ImagePullBackOff: Back-off pulling image "nope:1"`}},
		{name: "preRunning message with a reason but no message", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: initializing,
			cluster:    headCond(metav1.ConditionFalse, "ContainerCreating", "", time.Minute),
			wantReason: rayv1.PreRunningDeadlineExceeded,
			wantMsg:    []string{"; the head pod: ContainerCreating"}, notMsg: []string{"ContainerCreating:"}},
		{name: "preRunning message leaves out a ready head", preRunning: ptr.To[int32](30), elapsed: d(31), deploy: running,
			cluster:    headCond(metav1.ConditionTrue, rayv1.HeadPodRunningAndReady, "", time.Minute),
			wantReason: rayv1.PreRunningDeadlineExceeded, notMsg: []string{"head pod", rayv1.HeadPodRunningAndReady}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			job := &rayv1.RayJob{
				Spec: rayv1.RayJobSpec{ActiveDeadlineSeconds: c.active, PreRunningDeadlineSeconds: c.preRunning},
				Status: rayv1.RayJobStatus{
					JobDeploymentStatus: c.deploy,
					JobStatus:           c.jobStatus,
					RayClusterStatus:    c.cluster,
				},
			}
			if c.elapsed != nil {
				job.Status.StartTime = ago(*c.elapsed)
			}
			before := job.DeepCopy()
			got := passedDeadline(job, decideNow)
			if !reflect.DeepEqual(job, before) {
				t.Errorf("passedDeadline changed the RayJob")
			}
			if c.wantReason == "" {
				if got != nil {
					t.Fatalf("got deadline %+v, want none", *got)
				}
				return
			}
			if got == nil {
				t.Fatalf("got no deadline, want %s", c.wantReason)
			}
			if got.reason != c.wantReason {
				t.Errorf("reason = %s, want %s (message %q)", got.reason, c.wantReason, got.message)
			}
			for _, s := range c.wantMsg {
				if !strings.Contains(got.message, s) {
					t.Errorf("message %q lacks %q", got.message, s)
				}
			}
			for _, s := range c.notMsg {
				if strings.Contains(got.message, s) {
					t.Errorf("message %q has %q", got.message, s)
				}
			}
		})
	}
}

func TestClusterCannotStart(t *testing.T) {
	fatal := []string{
		"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
		"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "StartError",
		"CrashLoopBackOff", "Unschedulable",
	}
	for _, reason := range fatal {
		t.Run(reason, func(t *testing.T) {
			msg := "details of " + reason
			for _, c := range []struct {
				since time.Duration
				fail  bool
			}{
				{0, false},
				{time.Second, false},
				{HeadStartGrace - time.Nanosecond, false},
				{HeadStartGrace, true},
				{HeadStartGrace + time.Second, true},
				{time.Hour, true},
			} {
				got := clusterCannotStart(headCond(metav1.ConditionFalse, reason, msg, c.since), decideNow)
				want := ""
				if c.fail {
					want = reason + ": " + msg
				}
				if got != want {
					t.Errorf("%s after %s: got %q, want %q", reason, c.since, got, want)
				}
			}
		})
	}

	for _, c := range []struct {
		name    string
		cluster rayv1.RayClusterStatus
		want    string
	}{
		{name: "no conditions", cluster: rayv1.RayClusterStatus{}},
		{name: "ready head", cluster: headCond(metav1.ConditionTrue, rayv1.HeadPodRunningAndReady, "", time.Hour)},
		{name: "ready head with a stale fatal reason", cluster: headCond(metav1.ConditionTrue, "CrashLoopBackOff", "old", time.Hour)},
		{name: "unknown status", cluster: headCond(metav1.ConditionUnknown, "CrashLoopBackOff", "x", time.Hour), want: "CrashLoopBackOff: x"},
		{name: "ContainerCreating is not fatal", cluster: headCond(metav1.ConditionFalse, "ContainerCreating", "", time.Hour)},
		{name: "PodInitializing is not fatal", cluster: headCond(metav1.ConditionFalse, "PodInitializing", "", time.Hour)},
		{name: "head pod not created yet", cluster: headCond(metav1.ConditionFalse, rayv1.HeadPodNotFound, "the head pod does not exist yet", time.Hour)},
		{name: "unknown reason", cluster: headCond(metav1.ConditionFalse, rayv1.UnknownReason, "Pending", time.Hour)},
		{name: "fatal reason without message", cluster: headCond(metav1.ConditionFalse, "Unschedulable", "", time.Hour), want: "Unschedulable"},
		{name: "fatal reason on another condition", cluster: rayv1.RayClusterStatus{Conditions: []metav1.Condition{{
			Type: string(rayv1.RayClusterProvisioned), Status: metav1.ConditionFalse, Reason: "CrashLoopBackOff",
			LastTransitionTime: *ago(time.Hour),
		}}}},
		{name: "reason match is exact", cluster: headCond(metav1.ConditionFalse, "imagepullbackoff", "", time.Hour)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := clusterCannotStart(c.cluster, decideNow); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestHeadNotReady(t *testing.T) {
	for _, c := range []struct {
		cluster rayv1.RayClusterStatus
		want    string
	}{
		{rayv1.RayClusterStatus{}, ""},
		{headCond(metav1.ConditionTrue, rayv1.HeadPodRunningAndReady, "ignored", 0), ""},
		{headCond(metav1.ConditionFalse, "ContainerCreating", "", 0), "ContainerCreating"},
		{headCond(metav1.ConditionFalse, "ErrImagePull", "pull access denied", 0), "ErrImagePull: pull access denied"},
	} {
		if got := headNotReady(c.cluster); got != c.want {
			t.Errorf("headNotReady(%+v) = %q, want %q", c.cluster.Conditions, got, c.want)
		}
	}
}

func TestShouldRetry(t *testing.T) {
	failedJob := func(limit *int32, failed *int32, reason rayv1.JobFailedReason) *rayv1.RayJob {
		return &rayv1.RayJob{
			Spec: rayv1.RayJobSpec{BackoffLimit: limit},
			Status: rayv1.RayJobStatus{
				JobDeploymentStatus: rayv1.JobDeploymentStatusFailed,
				JobStatus:           rayv1.JobStatusFailed,
				Reason:              reason,
				Failed:              failed,
			},
		}
	}
	// backoffLimit counts retries; status.failed counts failed attempts,
	// including the one that just ended.
	for _, c := range []struct {
		limit *int32
		want  [3]bool // for failed = 1, 2, 3
	}{
		{nil, [3]bool{false, false, false}},
		{ptr.To[int32](0), [3]bool{false, false, false}},
		{ptr.To[int32](1), [3]bool{true, false, false}},
		{ptr.To[int32](2), [3]bool{true, true, false}},
	} {
		for i, want := range c.want {
			failed := int32(i + 1)
			if got := shouldRetry(failedJob(c.limit, ptr.To(failed), rayv1.AppFailed)); got != want {
				t.Errorf("backoffLimit %v, failed %d: got %v, want %v", ptr.Deref(c.limit, -1), failed, got, want)
			}
		}
	}

	for _, reason := range []rayv1.JobFailedReason{rayv1.DeadlineExceeded, rayv1.ValidationFailed, rayv1.PreRunningDeadlineExceeded} {
		if shouldRetry(failedJob(ptr.To[int32](5), ptr.To[int32](1), reason)) {
			t.Errorf("reason %s was retried", reason)
		}
	}
	for _, reason := range []rayv1.JobFailedReason{rayv1.AppFailed, rayv1.SubmissionFailed, ClusterStartFailed,
		rayv1.JobStatusCheckTimeoutExceeded, rayv1.JobDeploymentStatusTransitionGracePeriodExceeded} {
		if !shouldRetry(failedJob(ptr.To[int32](5), ptr.To[int32](1), reason)) {
			t.Errorf("reason %s was not retried", reason)
		}
	}

	for _, state := range []rayv1.JobDeploymentStatus{
		rayv1.JobDeploymentStatusNew, rayv1.JobDeploymentStatusInitializing, rayv1.JobDeploymentStatusRunning,
		rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusValidationFailed, rayv1.JobDeploymentStatusRetrying,
		rayv1.JobDeploymentStatusSuspended,
	} {
		job := failedJob(ptr.To[int32](5), ptr.To[int32](1), rayv1.AppFailed)
		job.Status.JobDeploymentStatus = state
		if shouldRetry(job) {
			t.Errorf("retried in state %q", state)
		}
	}
}

func TestFinishedCleanup(t *testing.T) {
	succeeded := rayv1.RayJobStatus{JobDeploymentStatus: rayv1.JobDeploymentStatusComplete, JobStatus: rayv1.JobStatusSucceeded}
	appFailed := rayv1.RayJobStatus{JobDeploymentStatus: rayv1.JobDeploymentStatusFailed, JobStatus: rayv1.JobStatusFailed, Reason: rayv1.AppFailed}
	stopped := rayv1.RayJobStatus{JobDeploymentStatus: rayv1.JobDeploymentStatusFailed, JobStatus: rayv1.JobStatusStopped, Reason: rayv1.AppFailed}
	// A deadline fails the deployment while the job still runs.
	deadline := rayv1.RayJobStatus{JobDeploymentStatus: rayv1.JobDeploymentStatusFailed, JobStatus: rayv1.JobStatusRunning, Reason: rayv1.DeadlineExceeded}
	withEnd := func(st rayv1.RayJobStatus, end time.Duration) rayv1.RayJobStatus {
		st.EndTime = ago(end)
		return st
	}
	policy := func(p rayv1.DeletionPolicyType) *rayv1.DeletionPolicy {
		return &rayv1.DeletionPolicy{Policy: ptr.To(p)}
	}
	legacy := &rayv1.DeletionStrategy{OnSuccess: policy(rayv1.DeleteNone), OnFailure: policy(rayv1.DeleteCluster)}
	onJob := func(p rayv1.DeletionPolicyType, s rayv1.JobStatus, ttl int32) rayv1.DeletionRule {
		return rayv1.DeletionRule{Policy: p, Condition: rayv1.DeletionCondition{JobStatus: ptr.To(s), TTLSeconds: ttl}}
	}
	onDeploy := func(p rayv1.DeletionPolicyType, s rayv1.JobDeploymentStatus, ttl int32) rayv1.DeletionRule {
		return rayv1.DeletionRule{Policy: p, Condition: rayv1.DeletionCondition{JobDeploymentStatus: ptr.To(s), TTLSeconds: ttl}}
	}
	rules := &rayv1.DeletionStrategy{DeletionRules: []rayv1.DeletionRule{
		onJob(rayv1.DeleteWorkers, rayv1.JobStatusSucceeded, 0),
		onJob(rayv1.DeleteCluster, rayv1.JobStatusSucceeded, 60),
		onJob(rayv1.DeleteSelf, rayv1.JobStatusFailed, 0),
		onDeploy(rayv1.DeleteCluster, rayv1.JobDeploymentStatusFailed, 30),
	}}
	act := func(p rayv1.DeletionPolicyType, wait time.Duration) cleanupAction {
		return cleanupAction{policy: p, wait: wait}
	}
	s := time.Second

	for _, c := range []struct {
		name     string
		spec     rayv1.RayJobSpec
		status   rayv1.RayJobStatus
		want     []cleanupAction
		wantNone bool
	}{
		{name: "nothing configured", status: withEnd(succeeded, 10*s), wantNone: true},
		{name: "nothing configured, failed", status: withEnd(appFailed, 10*s), wantNone: true},
		{name: "ttl alone does nothing", spec: rayv1.RayJobSpec{TTLSecondsAfterFinished: 60}, status: withEnd(succeeded, 10*s), wantNone: true},

		{name: "shutdown ttl 0", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true},
			status: withEnd(succeeded, 10*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "shutdown ttl 0 on failure", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true},
			status: withEnd(appFailed, 10*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "shutdown ttl 60, ended 20 s ago", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 60},
			status: withEnd(succeeded, 20*s), want: []cleanupAction{act(rayv1.DeleteCluster, 40*s)}},
		{name: "shutdown ttl 60, ended 60 s ago", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 60},
			status: withEnd(succeeded, 60*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "shutdown ttl 60, ended an hour ago", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 60},
			status: withEnd(appFailed, time.Hour), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "shutdown ttl 60, no endTime counts from now", spec: rayv1.RayJobSpec{ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 60},
			status: succeeded, want: []cleanupAction{act(rayv1.DeleteCluster, 60*s)}},

		{name: "legacy on success", spec: rayv1.RayJobSpec{DeletionStrategy: legacy},
			status: withEnd(succeeded, 10*s), want: []cleanupAction{act(rayv1.DeleteNone, 0)}},
		{name: "legacy on app failure", spec: rayv1.RayJobSpec{DeletionStrategy: legacy},
			status: withEnd(appFailed, 10*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "legacy on stopped job", spec: rayv1.RayJobSpec{DeletionStrategy: legacy},
			status: withEnd(stopped, 10*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "legacy on deadline", spec: rayv1.RayJobSpec{DeletionStrategy: legacy},
			status: withEnd(deadline, 10*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "legacy with ttl", spec: rayv1.RayJobSpec{DeletionStrategy: &rayv1.DeletionStrategy{OnSuccess: policy(rayv1.DeleteSelf), OnFailure: policy(rayv1.DeleteNone)},
			ShutdownAfterJobFinishes: true, TTLSecondsAfterFinished: 30},
			status: withEnd(succeeded, 10*s), want: []cleanupAction{act(rayv1.DeleteSelf, 20*s)}},
		{name: "legacy without a policy", spec: rayv1.RayJobSpec{DeletionStrategy: &rayv1.DeletionStrategy{OnSuccess: &rayv1.DeletionPolicy{}, OnFailure: &rayv1.DeletionPolicy{}}},
			status: withEnd(succeeded, 10*s), wantNone: true},

		{name: "rules on success", spec: rayv1.RayJobSpec{DeletionStrategy: rules},
			status: withEnd(succeeded, 10*s), want: []cleanupAction{act(rayv1.DeleteWorkers, 0), act(rayv1.DeleteCluster, 50*s)}},
		{name: "rules on job failure", spec: rayv1.RayJobSpec{DeletionStrategy: rules},
			status: withEnd(appFailed, 10*s), want: []cleanupAction{act(rayv1.DeleteSelf, 0), act(rayv1.DeleteCluster, 20*s)}},
		{name: "rules on deadline: only the deployment rule", spec: rayv1.RayJobSpec{DeletionStrategy: rules},
			status: withEnd(deadline, 10*s), want: []cleanupAction{act(rayv1.DeleteCluster, 20*s)}},
		{name: "rules on a stopped job: only the deployment rule", spec: rayv1.RayJobSpec{DeletionStrategy: rules},
			status: withEnd(stopped, 45*s), want: []cleanupAction{act(rayv1.DeleteCluster, 0)}},
		{name: "rules past every ttl", spec: rayv1.RayJobSpec{DeletionStrategy: rules},
			status: withEnd(succeeded, time.Hour), want: []cleanupAction{act(rayv1.DeleteWorkers, 0), act(rayv1.DeleteCluster, 0)}},
		{name: "rules ignore ttlSecondsAfterFinished", spec: rayv1.RayJobSpec{DeletionStrategy: &rayv1.DeletionStrategy{DeletionRules: []rayv1.DeletionRule{
			onJob(rayv1.DeleteCluster, rayv1.JobStatusSucceeded, 5)}}, TTLSecondsAfterFinished: 600},
			status: withEnd(succeeded, 0), want: []cleanupAction{act(rayv1.DeleteCluster, 5*s)}},
		{name: "no rule matches", spec: rayv1.RayJobSpec{DeletionStrategy: &rayv1.DeletionStrategy{DeletionRules: []rayv1.DeletionRule{
			onJob(rayv1.DeleteCluster, rayv1.JobStatusFailed, 0), onDeploy(rayv1.DeleteSelf, rayv1.JobDeploymentStatusFailed, 0)}}},
			status: withEnd(succeeded, 10*s), wantNone: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			job := &rayv1.RayJob{Spec: c.spec, Status: c.status}
			got := finishedCleanup(job, decideNow)
			if c.wantNone {
				if len(got) != 0 {
					t.Fatalf("got %+v, want no action", got)
				}
				return
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v, want %+v", got, c.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		spec rayv1.RayJobSpec
		want string // substring of the message; "" means valid
	}{
		{name: "empty spec"},
		{name: "full valid spec", spec: rayv1.RayJobSpec{
			Entrypoint:          "python train.py",
			RuntimeEnvYAML:      "env_vars:\n  A: b\npip:\n  - requests\nworking_dir: s3://bucket/x.zip\n",
			EntrypointResources: `{"TPU": 4, "custom": 0.5}`,
			ClusterSelector:     map[string]string{rayv1.RayClusterLabelKey: "shared", "team": "a"},
		}},
		{name: "flow-style runtime env", spec: rayv1.RayJobSpec{RuntimeEnvYAML: `{"pip": ["x"]}`}},
		{name: "empty entrypointResources object", spec: rayv1.RayJobSpec{EntrypointResources: `{}`}},

		{name: "runtimeEnvYAML does not parse", spec: rayv1.RayJobSpec{RuntimeEnvYAML: "env_vars: [unclosed"}, want: "spec.runtimeEnvYAML"},
		{name: "runtimeEnvYAML bad indentation", spec: rayv1.RayJobSpec{RuntimeEnvYAML: "a: b\n  c: d\n"}, want: "spec.runtimeEnvYAML"},
		{name: "runtimeEnvYAML is a list", spec: rayv1.RayJobSpec{RuntimeEnvYAML: "- pip\n- conda\n"}, want: "spec.runtimeEnvYAML"},
		{name: "runtimeEnvYAML is a scalar", spec: rayv1.RayJobSpec{RuntimeEnvYAML: "just words"}, want: "spec.runtimeEnvYAML"},

		{name: "entrypointResources with a string value", spec: rayv1.RayJobSpec{EntrypointResources: `{"TPU": "4"}`}, want: "spec.entrypointResources"},
		{name: "entrypointResources with a bool", spec: rayv1.RayJobSpec{EntrypointResources: `{"TPU": true}`}, want: "spec.entrypointResources"},
		{name: "entrypointResources not JSON", spec: rayv1.RayJobSpec{EntrypointResources: `TPU=4`}, want: "spec.entrypointResources"},
		{name: "entrypointResources is a list", spec: rayv1.RayJobSpec{EntrypointResources: `[4]`}, want: "spec.entrypointResources"},

		{name: "clusterSelector without ray.io/cluster", spec: rayv1.RayJobSpec{ClusterSelector: map[string]string{"app": "x"}}, want: "ray.io/cluster"},
		{name: "clusterSelector with an empty ray.io/cluster", spec: rayv1.RayJobSpec{ClusterSelector: map[string]string{rayv1.RayClusterLabelKey: ""}}, want: "ray.io/cluster"},
		{name: "clusterSelector with ray.io/cluster", spec: rayv1.RayJobSpec{ClusterSelector: map[string]string{rayv1.RayClusterLabelKey: "c1"}}},
		{name: "empty clusterSelector", spec: rayv1.RayJobSpec{ClusterSelector: map[string]string{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := validate(&rayv1.RayJob{Spec: c.spec})
			switch {
			case c.want == "" && got != "":
				t.Errorf("got %q, want valid", got)
			case c.want != "" && !strings.Contains(got, c.want):
				t.Errorf("got %q, want a message with %q", got, c.want)
			}
		})
	}
}
