package rayjob

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// Pure decisions of the RayJob state machine: each takes what the reconcile
// gathered and the current time, and says what should happen.

// JobStatusCheckTimeout is how long the dashboard may be unreachable while
// the job runs before the RayJob fails (KubeRay's default).
const JobStatusCheckTimeout = 300 * time.Second

// SubmitterGracePeriod is how long the job may stay non-terminal after its
// submitter finished (KubeRay's default).
const SubmitterGracePeriod = 300 * time.Second

// HeadStartGrace is how long a head pod may sit in a state it cannot leave
// on its own (a bad image, a missing binary, no node to run on) before the
// RayJob fails instead of waiting forever in Initializing.
const HeadStartGrace = 90 * time.Second

// ClusterStartFailed is the reason of a RayJob whose cluster cannot start.
const ClusterStartFailed rayv1.JobFailedReason = "ClusterStartFailed"

// deadline is a deadline that passed: the reason and message to fail with.
type deadline struct {
	reason  rayv1.JobFailedReason
	message string
}

// passedDeadline checks activeDeadlineSeconds (from the start) and, until
// the job runs, preRunningDeadlineSeconds.
func passedDeadline(job *rayv1.RayJob, now time.Time) *deadline {
	st := job.Status
	if st.StartTime == nil {
		return nil
	}
	elapsed := now.Sub(st.StartTime.Time)
	if d := job.Spec.ActiveDeadlineSeconds; d != nil && elapsed >= time.Duration(*d)*time.Second {
		return &deadline{rayv1.DeadlineExceeded, fmt.Sprintf("the RayJob ran longer than activeDeadlineSeconds (%d s)", *d)}
	}
	notRunning := st.JobDeploymentStatus == rayv1.JobDeploymentStatusInitializing || st.JobDeploymentStatus == rayv1.JobDeploymentStatusWaiting ||
		(st.JobDeploymentStatus == rayv1.JobDeploymentStatusRunning && !jobStarted(st.JobStatus))
	if d := job.Spec.PreRunningDeadlineSeconds; d != nil && notRunning && elapsed >= time.Duration(*d)*time.Second {
		msg := fmt.Sprintf("the job did not start running within preRunningDeadlineSeconds (%d s)", *d)
		if why := headNotReady(st.RayClusterStatus); why != "" {
			msg += "; the head pod: " + why
		}
		return &deadline{rayv1.PreRunningDeadlineExceeded, msg}
	}
	return nil
}

func jobStarted(s rayv1.JobStatus) bool {
	return s == rayv1.JobStatusRunning || rayv1.IsJobTerminal(s)
}

// fatalHeadReasons are head pod states that do not heal by waiting.
var fatalHeadReasons = []string{
	"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError", "StartError",
	"CrashLoopBackOff", "Unschedulable",
}

// clusterCannotStart reports a head pod stuck in a fatal state for longer
// than HeadStartGrace, with the pod's own reason and message.
func clusterCannotStart(cluster rayv1.RayClusterStatus, now time.Time) string {
	cond := meta.FindStatusCondition(cluster.Conditions, string(rayv1.HeadPodReady))
	if cond == nil || cond.Status == "True" || !slices.Contains(fatalHeadReasons, cond.Reason) {
		return ""
	}
	if now.Sub(cond.LastTransitionTime.Time) < HeadStartGrace {
		return ""
	}
	return headNotReady(cluster)
}

func headNotReady(cluster rayv1.RayClusterStatus) string {
	cond := meta.FindStatusCondition(cluster.Conditions, string(rayv1.HeadPodReady))
	if cond == nil || cond.Status == "True" {
		return ""
	}
	if cond.Message == "" {
		return cond.Reason
	}
	return cond.Reason + ": " + cond.Message
}

// shouldRetry is true for a failed attempt that backoffLimit allows to
// repeat on a new cluster. Deadlines and invalid specs are final.
func shouldRetry(job *rayv1.RayJob) bool {
	st := job.Status
	if st.JobDeploymentStatus != rayv1.JobDeploymentStatusFailed || job.Spec.BackoffLimit == nil {
		return false
	}
	switch st.Reason {
	case rayv1.DeadlineExceeded, rayv1.ValidationFailed, rayv1.PreRunningDeadlineExceeded:
		return false
	}
	failed := int32(0)
	if st.Failed != nil {
		failed = *st.Failed
	}
	return failed <= *job.Spec.BackoffLimit
}

// cleanupAction is what to delete once a RayJob finished.
type cleanupAction struct {
	policy rayv1.DeletionPolicyType
	// wait is how long until the action is due; zero means now.
	wait time.Duration
}

// finishedCleanup returns the actions of the RayJob's deletion settings: the
// deletion rules, the legacy per-outcome policies, or
// shutdownAfterJobFinishes with its TTL. Actions due later carry the wait.
func finishedCleanup(job *rayv1.RayJob, now time.Time) []cleanupAction {
	st := job.Status
	end := now
	if st.EndTime != nil {
		end = st.EndTime.Time
	}
	due := func(ttl int32) time.Duration {
		return max(0, end.Add(time.Duration(ttl)*time.Second).Sub(now))
	}
	succeeded := st.JobDeploymentStatus == rayv1.JobDeploymentStatusComplete && st.JobStatus == rayv1.JobStatusSucceeded
	if ds := job.Spec.DeletionStrategy; ds != nil {
		if len(ds.DeletionRules) > 0 {
			var out []cleanupAction
			for _, rule := range ds.DeletionRules {
				c := rule.Condition
				match := (c.JobStatus != nil && *c.JobStatus == st.JobStatus) ||
					(c.JobDeploymentStatus != nil && *c.JobDeploymentStatus == st.JobDeploymentStatus)
				if match {
					out = append(out, cleanupAction{policy: rule.Policy, wait: due(c.TTLSeconds)})
				}
			}
			return out
		}
		policy := ds.OnFailure
		if succeeded {
			policy = ds.OnSuccess
		}
		if policy != nil && policy.Policy != nil {
			return []cleanupAction{{policy: *policy.Policy, wait: due(job.Spec.TTLSecondsAfterFinished)}}
		}
		return nil
	}
	if job.Spec.ShutdownAfterJobFinishes {
		return []cleanupAction{{policy: rayv1.DeleteCluster, wait: due(job.Spec.TTLSecondsAfterFinished)}}
	}
	return nil
}

// validate finds what admission cannot check: YAML and JSON inside strings,
// and deletion rules that cannot apply to this RayJob.
func validate(job *rayv1.RayJob) string {
	if job.Spec.RuntimeEnvYAML != "" {
		var env map[string]any
		if err := yaml.Unmarshal([]byte(job.Spec.RuntimeEnvYAML), &env); err != nil {
			return fmt.Sprintf("spec.runtimeEnvYAML is not a YAML mapping: %v", err)
		}
	}
	if job.Spec.EntrypointResources != "" {
		var res map[string]float64
		if err := json.Unmarshal([]byte(job.Spec.EntrypointResources), &res); err != nil {
			return fmt.Sprintf(`spec.entrypointResources must be a JSON object of numbers such as {"TPU": 4}: %v`, err)
		}
	}
	if len(job.Spec.ClusterSelector) > 0 && job.Spec.ClusterSelector[rayv1.RayClusterLabelKey] == "" {
		return "spec.clusterSelector must name the cluster with the key ray.io/cluster"
	}
	return validateDeletionStrategy(job)
}
