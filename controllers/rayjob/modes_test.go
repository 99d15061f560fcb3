package rayjob_test

import (
	"context"
	"strings"
	"testing"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
)

func TestHTTPModeSucceedsAndFails(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, entrypoint string
		want             rayv1.JobDeploymentStatus
		wantStatus       rayv1.JobStatus
		wantReason       rayv1.JobFailedReason
	}{
		{"http-ok", "echo hello from the job", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded, ""},
		{"http-fail", "echo failing; exit 3", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusFailed, rayv1.AppFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := k8s.Create(ctx, newJob("modes", tc.name, tc.entrypoint, rayv1.HTTPMode)); err != nil {
				t.Fatal(err)
			}
			job := waitForDeployment(t, ctx, "modes", tc.name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
			st := job.Status
			if st.JobDeploymentStatus != tc.want || st.JobStatus != tc.wantStatus || st.Reason != tc.wantReason {
				t.Fatalf("ended %s/%s/%s (%s), want %s/%s/%s", st.JobDeploymentStatus, st.JobStatus, st.Reason, st.Message, tc.want, tc.wantStatus, tc.wantReason)
			}
			if st.JobId == "" || st.RayClusterName == "" || st.DashboardURL != headAddr || st.StartTime == nil || st.EndTime == nil ||
				st.RayJobStatusInfo.StartTime == nil || st.RayJobStatusInfo.EndTime == nil {
				t.Errorf("status incomplete: %+v", st)
			}
			c, _ := jobclient.New(headAddr)
			logs, err := c.Logs(ctx, st.JobId)
			if err != nil || len(logs) == 0 {
				t.Errorf("job logs: %q %v", logs, err)
			}
		})
	}
}

func TestInteractiveModeWaitsForJobID(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name, entrypoint string
		want             rayv1.JobDeploymentStatus
		wantStatus       rayv1.JobStatus
		wantReason       rayv1.JobFailedReason
	}{
		{"interactive", "echo interactive", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded, ""},
		{"interactive-fail", "exit 2", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusFailed, rayv1.AppFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := k8s.Create(ctx, newJob("modes", tc.name, "", rayv1.InteractiveMode)); err != nil {
				t.Fatal(err)
			}
			waitForDeployment(t, ctx, "modes", tc.name, rayv1.JobDeploymentStatusWaiting)

			// The user submits to the dashboard and tells the RayJob the id.
			c, _ := jobclient.New(headAddr)
			id, err := c.Submit(ctx, api.SubmitRequest{Entrypoint: tc.entrypoint, SubmissionID: tc.name + "-by-hand"})
			if err != nil {
				t.Fatal(err)
			}
			job, _ := getJob(ctx, "modes", tc.name)
			before := job.DeepCopy()
			job.Spec.JobId = id
			if err := k8s.Patch(ctx, job, clientMergeFrom(before)); err != nil {
				t.Fatal(err)
			}
			job = waitForDeployment(t, ctx, "modes", tc.name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
			st := job.Status
			if st.JobDeploymentStatus != tc.want || st.JobStatus != tc.wantStatus || st.Reason != tc.wantReason || st.JobId != id {
				t.Fatalf("ended %s/%s/%s (%s) for %s", st.JobDeploymentStatus, st.JobStatus, st.Reason, st.Message, st.JobId)
			}
		})
	}
}

// TestRefusedSubmissionIsReported: a submission the head refuses as a bad
// request (here a runtime_env whose working_dir is not a URI) is an error
// the RayJob's status names, not "already submitted" — only a taken
// submission id means an earlier submission of this job went through.
func TestRefusedSubmissionIsReported(t *testing.T) {
	ctx := context.Background()
	const name = "http-refused"
	job := newJob("modes", name, "echo never", rayv1.HTTPMode)
	job.Spec.RuntimeEnvYAML = "working_dir: 5"
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the refusal in the RayJob's status", func() (bool, error) {
		j, err := getJob(ctx, "modes", name)
		if err != nil {
			return false, err
		}
		return strings.Contains(j.Status.Message, "submitting the job") && strings.Contains(j.Status.Message, "working_dir must be a string"), nil
	})
	c, _ := jobclient.New(headAddr)
	j, _ := getJob(ctx, "modes", name)
	if _, err := c.Get(ctx, j.Status.JobId); !jobclient.IsNotFound(err) {
		t.Fatalf("the refused job is known to the head: %v", err)
	}
}
