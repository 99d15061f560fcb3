package rayjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/clustertls"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
)

// scope is what one reconcile of one RayJob knows.
type scope struct {
	job      *rayv1.RayJob
	original *rayv1.RayJob
	now      time.Time
}

func (s *scope) to(state rayv1.JobDeploymentStatus) { s.job.Status.JobDeploymentStatus = state }

// fail ends the attempt: Failed with a reason and message, counted.
func (s *scope) fail(reason rayv1.JobFailedReason, message string) {
	st := &s.job.Status
	st.JobDeploymentStatus = rayv1.JobDeploymentStatusFailed
	st.Reason, st.Message = reason, message
	if st.EndTime == nil {
		st.EndTime = ptr.To(metav1.NewTime(s.now))
	}
	st.Failed = ptr.To(ptr.Deref(st.Failed, 0) + 1)
}

func (r *Reconciler) onNew(_ context.Context, s *scope) (ctrl.Result, error) {
	job, st := s.job, &s.job.Status
	if msg := validate(job); msg != "" {
		s.to(rayv1.JobDeploymentStatusValidationFailed)
		st.Reason, st.Message = rayv1.ValidationFailed, msg
		return ctrl.Result{}, nil
	}
	if job.Spec.Suspend {
		s.to(rayv1.JobDeploymentStatusSuspended)
		return ctrl.Result{}, nil
	}
	st.JobId = job.Spec.JobId
	if st.JobId == "" {
		st.JobId = job.Name + "-" + r.RandomSuffix()
	}
	if name := job.Spec.ClusterSelector[rayv1.RayClusterLabelKey]; name != "" {
		st.RayClusterName = name
	} else {
		st.RayClusterName = desired.RayJobClusterName(job, r.RandomSuffix())
	}
	st.StartTime = ptr.To(metav1.NewTime(s.now))
	st.EndTime, st.JobStatus, st.Reason, st.Message, st.DashboardURL = nil, rayv1.JobStatusNew, "", "", ""
	st.RayJobStatusInfo = rayv1.RayJobStatusInfo{}
	if st.Failed == nil {
		st.Failed = ptr.To[int32](0)
	}
	if st.Succeeded == nil {
		st.Succeeded = ptr.To[int32](0)
	}
	s.to(rayv1.JobDeploymentStatusInitializing)
	return ctrl.Result{RequeueAfter: requeueNow}, nil
}

// onInitializing brings up (or finds) the cluster and, once it is ready,
// starts the submission.
func (r *Reconciler) onInitializing(ctx context.Context, s *scope) (ctrl.Result, error) {
	job, st := s.job, &s.job.Status
	if job.Spec.Suspend {
		s.to(rayv1.JobDeploymentStatusSuspending)
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	cluster, err := r.getOrCreateCluster(ctx, s)
	if err != nil || cluster == nil {
		return ctrl.Result{RequeueAfter: requeueSoon}, err
	}
	st.RayClusterStatus = cluster.Status
	if why := clusterCannotStart(cluster.Status, s.now); why != "" {
		s.fail(ClusterStartFailed, "the RayCluster "+cluster.Name+" cannot start: the head pod is "+why)
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	if cluster.Status.State != rayv1.Ready {
		st.Message = "waiting for RayCluster " + cluster.Name + " to be ready"
		return ctrl.Result{RequeueAfter: requeueSoon}, nil
	}
	address := r.DashboardAddress(cluster)
	st.DashboardURL, st.Message = address, ""

	switch job.Spec.SubmissionMode {
	case rayv1.InteractiveMode:
		s.to(rayv1.JobDeploymentStatusWaiting)
		return r.onWaiting(ctx, s)
	case rayv1.K8sJobMode, "":
		submitter := desired.SubmitterJob(job, cluster, address)
		desired.UseRuntimeImageInJob(cluster, submitter, r.RuntimeImage)
		if err := r.createIfMissing(ctx, submitter); err != nil {
			return ctrl.Result{}, fmt.Errorf("creating the submitter Job: %w", err)
		}
	case rayv1.HTTPMode:
		if err := r.submitIfAbsent(ctx, s); err != nil {
			// The head's job API may not be up yet: poll, without the
			// error backoff a returned error would bring.
			ctrl.LoggerFrom(ctx).V(1).Info("submitting the job over HTTP", "error", err)
			st.Message = "submitting the job over HTTP: " + err.Error()
			r.warnTokenError(s, err)
			return ctrl.Result{RequeueAfter: requeueSoon}, nil
		}
	case rayv1.SidecarMode:
		// The head pod's ray-job-submitter container submits.
	}
	s.to(rayv1.JobDeploymentStatusRunning)
	return ctrl.Result{RequeueAfter: requeueSoon}, nil
}

// getOrCreateCluster returns the job's cluster; it creates an owned one, and
// waits (nil, nil) for a selected one that does not exist yet.
func (r *Reconciler) getOrCreateCluster(ctx context.Context, s *scope) (*rayv1.RayCluster, error) {
	job, st := s.job, &s.job.Status
	cluster := &rayv1.RayCluster{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: st.RayClusterName}, cluster)
	if err == nil {
		return cluster, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, err
	}
	if len(job.Spec.ClusterSelector) > 0 {
		st.Message = "waiting for the selected RayCluster " + st.RayClusterName + " to exist"
		return nil, nil
	}
	// The sidecar reaches the dashboard in its own pod.
	probe := &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Name: st.RayClusterName, Namespace: job.Namespace}, Spec: *job.Spec.RayClusterSpec}
	cluster = desired.RayJobCluster(job, st.RayClusterName, "127.0.0.1:"+dashboardPort(desired.DashboardURL(probe, r.ClusterDomain)))
	if err := r.Client.Create(ctx, cluster); err != nil && !apierrors.IsAlreadyExists(err) {
		return nil, fmt.Errorf("creating RayCluster %s: %w", st.RayClusterName, err)
	}
	st.Message = "created RayCluster " + st.RayClusterName
	return cluster, nil
}

func (r *Reconciler) onWaiting(_ context.Context, s *scope) (ctrl.Result, error) {
	if s.job.Spec.JobId == "" {
		s.job.Status.Message = "waiting for spec.jobId: submit the job to " + s.job.Status.DashboardURL + " and set its submission id"
		return ctrl.Result{RequeueAfter: requeueSoon}, nil
	}
	s.job.Status.JobId = s.job.Spec.JobId
	s.job.Status.Message = ""
	s.to(rayv1.JobDeploymentStatusRunning)
	return ctrl.Result{RequeueAfter: requeueSoon}, nil
}

// onRunning follows the job through the dashboard until it is terminal and
// its submitter finished.
func (r *Reconciler) onRunning(ctx context.Context, s *scope) (ctrl.Result, error) {
	job, st := s.job, &s.job.Status
	if job.Spec.Suspend {
		r.stopJob(ctx, s)
		s.to(rayv1.JobDeploymentStatusSuspending)
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	if cluster := r.cluster(ctx, s); cluster != nil {
		st.RayClusterStatus = cluster.Status
	}
	info, err := r.getJob(ctx, s)
	switch {
	case jobclient.IsNotFound(err):
		st.JobStatusCheckFailureStartTime = nil
		if job.Spec.SubmissionMode == rayv1.HTTPMode {
			_ = r.submitIfAbsent(ctx, s)
		}
	case err != nil:
		if st.JobStatusCheckFailureStartTime == nil {
			st.JobStatusCheckFailureStartTime = ptr.To(metav1.NewTime(s.now))
		}
		if s.now.Sub(st.JobStatusCheckFailureStartTime.Time) > JobStatusCheckTimeout {
			s.fail(rayv1.JobStatusCheckTimeoutExceeded, fmt.Sprintf("the job API at %s did not answer for %s: %v", st.DashboardURL, JobStatusCheckTimeout, err))
			return ctrl.Result{RequeueAfter: requeueNow}, nil
		}
		st.Message = "cannot reach the job API: " + err.Error()
		r.warnTokenError(s, err)
		return ctrl.Result{RequeueAfter: requeueSoon}, nil
	default:
		st.JobStatusCheckFailureStartTime = nil
		copyJobInfo(st, info)
	}

	done, failedSubmit, submitterEnd := r.submitterState(ctx, s)
	switch {
	case rayv1.IsJobTerminal(st.JobStatus) && done:
		st.EndTime = ptr.To(metav1.NewTime(s.now))
		if st.JobStatus == rayv1.JobStatusSucceeded {
			s.to(rayv1.JobDeploymentStatusComplete)
			st.Succeeded = ptr.To(ptr.Deref(st.Succeeded, 0) + 1)
			st.Reason = ""
		} else {
			s.fail(rayv1.AppFailed, jobMessage(info, "the job ended "+string(st.JobStatus)))
		}
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	case failedSubmit && st.JobStatus == rayv1.JobStatusNew:
		s.fail(rayv1.SubmissionFailed, "the submitter failed before the job reached the cluster; see the submitter's logs")
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	case done && !submitterEnd.IsZero() && s.now.Sub(submitterEnd) > SubmitterGracePeriod:
		s.fail(rayv1.JobDeploymentStatusTransitionGracePeriodExceeded,
			fmt.Sprintf("the submitter finished %s ago but the job is still %s", SubmitterGracePeriod, st.JobStatus))
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	return ctrl.Result{RequeueAfter: requeueSoon}, nil
}

func jobMessage(info *api.JobDetails, fallback string) string {
	if info != nil && info.Message != nil && *info.Message != "" {
		return *info.Message
	}
	return fallback
}

func copyJobInfo(st *rayv1.RayJobStatus, info *api.JobDetails) {
	st.JobStatus = rayv1.JobStatus(info.Status)
	if info.Message != nil {
		st.Message = *info.Message
	}
	if info.StartTime != nil && *info.StartTime > 0 {
		st.RayJobStatusInfo.StartTime = ptr.To(metav1.NewTime(time.UnixMilli(*info.StartTime)))
	}
	if info.EndTime != nil && *info.EndTime > 0 {
		st.RayJobStatusInfo.EndTime = ptr.To(metav1.NewTime(time.UnixMilli(*info.EndTime)))
	}
}

// submitterState says whether the submitter finished (always true for the
// modes without one), whether it failed, and when it finished.
func (r *Reconciler) submitterState(ctx context.Context, s *scope) (done, failed bool, end time.Time) {
	job := s.job
	switch job.Spec.SubmissionMode {
	case rayv1.K8sJobMode, "":
		sj := &batchv1.Job{}
		if err := r.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: job.Name}, sj); err != nil {
			return false, false, time.Time{}
		}
		for _, c := range sj.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				return true, c.Type == batchv1.JobFailed, c.LastTransitionTime.Time
			}
		}
		return false, false, time.Time{}
	case rayv1.SidecarMode:
		pods := &corev1.PodList{}
		if err := r.Client.List(ctx, pods, client.InNamespace(job.Namespace), client.MatchingLabels{
			rayv1.RayClusterLabelKey: s.job.Status.RayClusterName, rayv1.RayNodeTypeLabelKey: string(rayv1.HeadNode)}); err != nil {
			return false, false, time.Time{}
		}
		for _, p := range pods.Items {
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Name == desired.SubmitterContainerName && cs.State.Terminated != nil {
					return true, cs.State.Terminated.ExitCode != 0, cs.State.Terminated.FinishedAt.Time
				}
			}
		}
		return false, false, time.Time{}
	}
	return true, false, time.Time{}
}

// onFinished retries a failed attempt within backoffLimit, else applies the
// deletion settings as their TTLs come due.
func (r *Reconciler) onFinished(ctx context.Context, s *scope) (ctrl.Result, error) {
	if shouldRetry(s.job) {
		s.to(rayv1.JobDeploymentStatusRetrying)
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	var next time.Duration
	for _, a := range finishedCleanup(s.job, s.now) {
		if a.wait > 0 {
			if next == 0 || a.wait < next {
				next = a.wait
			}
			continue
		}
		if err := r.applyCleanup(ctx, s, a.policy); err != nil {
			return ctrl.Result{}, err
		}
	}
	if next > 0 {
		return ctrl.Result{RequeueAfter: next}, nil
	}
	return ctrl.Result{}, nil
}

// applyCleanup deletes what a policy names; each step is idempotent.
func (r *Reconciler) applyCleanup(ctx context.Context, s *scope, policy rayv1.DeletionPolicyType) error {
	switch policy {
	case rayv1.DeleteCluster:
		return r.deleteOwned(ctx, s)
	case rayv1.DeleteWorkers:
		cluster := r.cluster(ctx, s)
		if cluster == nil || len(s.job.Spec.ClusterSelector) > 0 {
			return nil
		}
		before := cluster.DeepCopy()
		changed := false
		for i := range cluster.Spec.WorkerGroupSpecs {
			if !ptr.Deref(cluster.Spec.WorkerGroupSpecs[i].Suspend, false) {
				cluster.Spec.WorkerGroupSpecs[i].Suspend = ptr.To(true)
				changed = true
			}
		}
		if !changed {
			return nil
		}
		return r.Client.Patch(ctx, cluster, client.MergeFrom(before))
	case rayv1.DeleteSelf:
		return client.IgnoreNotFound(r.Client.Delete(ctx, s.job, client.PropagationPolicy(metav1.DeletePropagationBackground)))
	}
	return nil
}

// onRetrying removes the failed attempt's cluster and submitter, then starts over.
func (r *Reconciler) onRetrying(ctx context.Context, s *scope) (ctrl.Result, error) {
	gone, err := r.deleteOwnedAndWait(ctx, s)
	if err != nil || !gone {
		return ctrl.Result{RequeueAfter: requeueSoon}, err
	}
	st := &s.job.Status
	st.JobId, st.RayClusterName, st.RayClusterStatus = "", "", rayv1.RayClusterStatus{}
	s.to(rayv1.JobDeploymentStatusNew)
	return ctrl.Result{RequeueAfter: requeueNow}, nil
}

// onSuspending deletes everything the RayJob created (Kueue preemption).
func (r *Reconciler) onSuspending(ctx context.Context, s *scope) (ctrl.Result, error) {
	gone, err := r.deleteOwnedAndWait(ctx, s)
	if err != nil || !gone {
		return ctrl.Result{RequeueAfter: requeueSoon}, err
	}
	st := &s.job.Status
	st.JobStatus, st.RayClusterName, st.DashboardURL, st.RayClusterStatus = rayv1.JobStatusNew, "", "", rayv1.RayClusterStatus{}
	st.StartTime, st.EndTime, st.RayJobStatusInfo = nil, nil, rayv1.RayJobStatusInfo{}
	s.to(rayv1.JobDeploymentStatusSuspended)
	return ctrl.Result{}, nil
}

func (r *Reconciler) onSuspended(_ context.Context, s *scope) (ctrl.Result, error) {
	if !s.job.Spec.Suspend {
		s.to(rayv1.JobDeploymentStatusNew)
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	return ctrl.Result{}, nil
}

// onValidationFailed waits for an edit of the spec.
func (r *Reconciler) onValidationFailed(ctx context.Context, s *scope) (ctrl.Result, error) {
	if s.job.Status.ObservedGeneration != s.job.Generation {
		s.to(rayv1.JobDeploymentStatusNew)
		return r.onNew(ctx, s)
	}
	return ctrl.Result{}, nil
}

// deleteOwned deletes the submitter Job and the cluster the RayJob created.
func (r *Reconciler) deleteOwned(ctx context.Context, s *scope) error {
	job := s.job
	bg := client.PropagationPolicy(metav1.DeletePropagationBackground)
	if err := r.Client.Delete(ctx, &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Name}}, bg); client.IgnoreNotFound(err) != nil {
		return err
	}
	if len(job.Spec.ClusterSelector) > 0 || job.Status.RayClusterName == "" {
		return nil
	}
	err := r.Client.Delete(ctx, &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Namespace: job.Namespace, Name: job.Status.RayClusterName}}, bg)
	return client.IgnoreNotFound(err)
}

// deleteOwnedAndWait deletes and reports whether both are gone.
func (r *Reconciler) deleteOwnedAndWait(ctx context.Context, s *scope) (bool, error) {
	if err := r.deleteOwned(ctx, s); err != nil {
		return false, err
	}
	job := s.job
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: job.Name}, &batchv1.Job{}); !apierrors.IsNotFound(err) {
		return false, client.IgnoreNotFound(err)
	}
	if len(job.Spec.ClusterSelector) > 0 || job.Status.RayClusterName == "" {
		return true, nil
	}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: job.Namespace, Name: job.Status.RayClusterName}, &rayv1.RayCluster{})
	return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
}

func (r *Reconciler) cluster(ctx context.Context, s *scope) *rayv1.RayCluster {
	c := &rayv1.RayCluster{}
	if s.job.Status.RayClusterName == "" {
		return nil
	}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: s.job.Namespace, Name: s.job.Status.RayClusterName}, c); err != nil {
		return nil
	}
	return c
}

// tokenError is a cluster's auth token that cannot be read (a missing
// Secret or key): the job API cannot be used until the user fixes it.
type tokenError struct{ error }

func (e tokenError) Unwrap() error { return e.error }

// jobClient is a client of the job's dashboard that sends the cluster's
// auth token, over HTTPS trusting the cluster's CA when it runs with TLS. A
// 401 makes the token be read again next time.
func (r *Reconciler) jobClient(ctx context.Context, s *scope) (JobClient, error) {
	token, address := "", s.job.Status.DashboardURL
	var base http.RoundTripper
	cluster := r.cluster(ctx, s)
	if cluster != nil {
		var err error
		if token, err = r.Tokens.Token(ctx, cluster); err != nil {
			return nil, tokenError{fmt.Errorf("the auth token of RayCluster %s: %w", cluster.Name, err)}
		}
		if base, err = r.clusterTransport(ctx, cluster); err != nil {
			return nil, tokenError{fmt.Errorf("the TLS CA of RayCluster %s: %w", cluster.Name, err)}
		}
		address = clustertls.URL(cluster, address)
	}
	c, err := r.NewJobClient(address, token, base)
	if err != nil || cluster == nil {
		return c, err
	}
	return unauthorizedForgets{JobClient: c, forget: func() { r.Tokens.Forget(cluster) }}, nil
}

// clusterTransport is the base transport to a TLS cluster (nil without
// TLS), through r.TLS or, when unset (tests), the reconciler's client.
func (r *Reconciler) clusterTransport(ctx context.Context, c *rayv1.RayCluster) (http.RoundTripper, error) {
	tr := r.TLS
	if tr == nil {
		if !clustertls.Enabled(c) {
			return nil, nil
		}
		tr = clustertls.New(r.Client, r.Client)
	}
	return tr.Transport(ctx, c)
}

// unauthorizedForgets forgets the cluster's token when the dashboard answers 401.
type unauthorizedForgets struct {
	JobClient
	forget func()
}

func (u unauthorizedForgets) check(err error) {
	var he *jobclient.HTTPError
	if errors.As(err, &he) && he.StatusCode == http.StatusUnauthorized {
		u.forget()
	}
}

func (u unauthorizedForgets) Submit(ctx context.Context, req api.SubmitRequest) (string, error) {
	id, err := u.JobClient.Submit(ctx, req)
	u.check(err)
	return id, err
}

func (u unauthorizedForgets) Get(ctx context.Context, id string) (*api.JobDetails, error) {
	d, err := u.JobClient.Get(ctx, id)
	u.check(err)
	return d, err
}

func (u unauthorizedForgets) Stop(ctx context.Context, id string) (bool, error) {
	ok, err := u.JobClient.Stop(ctx, id)
	u.check(err)
	return ok, err
}

func (r *Reconciler) getJob(ctx context.Context, s *scope) (*api.JobDetails, error) {
	c, err := r.jobClient(ctx, s)
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return c.Get(cctx, s.job.Status.JobId)
}

// submitIfAbsent submits the job over HTTP unless the dashboard has it.
func (r *Reconciler) submitIfAbsent(ctx context.Context, s *scope) error {
	c, err := r.jobClient(ctx, s)
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Get(cctx, s.job.Status.JobId); err == nil || !jobclient.IsNotFound(err) {
		return err
	}
	req, err := submitRequest(s.job)
	if err != nil {
		return err
	}
	// A taken submission id is an earlier submission of this job that went
	// through (its reply was lost); any other refusal is the user's to see.
	if _, err := c.Submit(cctx, req); err != nil && !jobclient.IsDuplicate(err) {
		s.job.Status.Message = "submitting the job: " + err.Error()
		return err
	}
	return nil
}

func submitRequest(job *rayv1.RayJob) (api.SubmitRequest, error) {
	req := api.SubmitRequest{Entrypoint: job.Spec.Entrypoint, SubmissionID: job.Status.JobId, Metadata: job.Spec.Metadata}
	if job.Spec.RuntimeEnvYAML != "" {
		if err := yaml.Unmarshal([]byte(job.Spec.RuntimeEnvYAML), &req.RuntimeEnv); err != nil {
			return req, err
		}
	}
	if job.Spec.EntrypointNumCpus > 0 {
		req.EntrypointNumCPUs = ptr.To(float64(job.Spec.EntrypointNumCpus))
	}
	if job.Spec.EntrypointNumGpus > 0 {
		req.EntrypointNumGPUs = ptr.To(float64(job.Spec.EntrypointNumGpus))
	}
	if job.Spec.EntrypointResources != "" {
		if err := json.Unmarshal([]byte(job.Spec.EntrypointResources), &req.EntrypointResources); err != nil {
			return req, err
		}
	}
	return req, nil
}

// stopJob asks the cluster to stop the job; best effort.
func (r *Reconciler) stopJob(ctx context.Context, s *scope) {
	if s.job.Status.JobId == "" || s.job.Status.DashboardURL == "" || rayv1.IsJobTerminal(s.job.Status.JobStatus) {
		return
	}
	c, err := r.jobClient(ctx, s)
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, _ = c.Stop(cctx, s.job.Status.JobId)
}

func (r *Reconciler) createIfMissing(ctx context.Context, obj client.Object) error {
	if err := r.Client.Create(ctx, obj); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

func dashboardPort(address string) string {
	for i := len(address) - 1; i >= 0; i-- {
		if address[i] == ':' {
			return address[i+1:]
		}
	}
	return "8265"
}

func isTokenError(err error) bool {
	var te tokenError
	return errors.As(err, &te)
}

// warnTokenError records a Warning event when the cluster's auth token
// cannot be read, once per change of the status message.
func (r *Reconciler) warnTokenError(s *scope, err error) {
	if isTokenError(err) && s.original != nil && s.original.Status.Message != s.job.Status.Message {
		r.Recorder.Eventf(s.job, nil, corev1.EventTypeWarning, "AuthTokenUnavailable", "Reconcile", "%v", err)
	}
}
