// Package rayjob reconciles a RayJob: it creates (or selects) a RayCluster,
// submits the entrypoint in the chosen submission mode, follows the job
// through the head's job API, and cleans up, retries or suspends as the spec
// says. The state machine is one switch over status.jobDeploymentStatus, and
// each reconcile writes the status once.
package rayjob

import (
	"context"
	"net/http"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/authtoken"
	"github.com/goray-dev/goray/controllers/clustertls"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
)

// Finalizer stops the job on the cluster when the RayJob is deleted.
const Finalizer = "ray.io/rayjob-finalizer"

// JobClient is the part of the job API client the controller uses.
type JobClient interface {
	Submit(ctx context.Context, req api.SubmitRequest) (string, error)
	Get(ctx context.Context, id string) (*api.JobDetails, error)
	Stop(ctx context.Context, id string) (bool, error)
}

// TokenReader finds the auth token the operator sends to a cluster.
type TokenReader interface {
	Token(ctx context.Context, c *rayv1.RayCluster) (string, error)
	// Forget drops a remembered token (after a 401).
	Forget(c *rayv1.RayCluster)
}

// TLSReader finds how the operator reaches a TLS cluster's HTTPS APIs.
type TLSReader interface {
	// Transport trusts c's CA; nil when c runs without TLS.
	Transport(ctx context.Context, c *rayv1.RayCluster) (http.RoundTripper, error)
}

// Reconciler reconciles RayJobs.
type Reconciler struct {
	Client   client.Client
	Recorder events.EventRecorder
	Clock    clock.PassiveClock
	// ClusterDomain is the DNS suffix of Services (default cluster.local).
	ClusterDomain string
	Concurrency   int
	// DashboardAddress is host:port of a cluster's job API; nil means the
	// head Service's DNS name (tests point it at a local head process).
	DashboardAddress func(*rayv1.RayCluster) string
	// NewJobClient makes a client for a dashboard address (https://… for a
	// TLS cluster) that sends the cluster's auth token ("" when it runs
	// without one) through base (nil: the default transport; for a TLS
	// cluster, one that trusts its CA); nil means NewHTTPJobClient.
	NewJobClient func(address, token string, base http.RoundTripper) (JobClient, error)
	// Tokens finds a cluster's auth token; nil reads it through the manager
	// (the cluster's Secret, or the head container's own RAY_AUTH_TOKEN).
	Tokens TokenReader
	// TLS finds the transport to a TLS cluster; nil reads the CA of its
	// certificate Secret through the manager.
	TLS TLSReader
	// RandomSuffix makes the 5-character suffixes of cluster and job ids.
	RandomSuffix func() string
	// RuntimeImage runs in place of a Ray image in the K8sJobMode
	// submitter (as in the cluster's pods); "" keeps the image as written.
	RuntimeImage string
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
}

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.DashboardAddress == nil {
		r.DashboardAddress = func(c *rayv1.RayCluster) string { return desired.DashboardURL(c, r.ClusterDomain) }
	}
	if r.NewJobClient == nil {
		r.NewJobClient = NewHTTPJobClient
	}
	if r.Tokens == nil {
		r.Tokens = authtoken.New(mgr.GetClient(), mgr.GetAPIReader())
	}
	if r.TLS == nil {
		r.TLS = clustertls.New(mgr.GetClient(), mgr.GetAPIReader())
	}
	if r.RandomSuffix == nil {
		r.RandomSuffix = func() string { return utilrand.String(5) }
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rayv1.RayJob{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&rayv1.RayCluster{}).
		Owns(&batchv1.Job{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Concurrency, 1), SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}

// Reconcile advances one RayJob by one step of its state machine.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	job := &rayv1.RayJob{}
	if err := r.Client.Get(ctx, req.NamespacedName, job); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != rayv1.KubeRayOperatorName {
		return ctrl.Result{}, nil
	}
	if !job.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, job)
	}
	if err := r.ensureFinalizer(ctx, job); err != nil {
		return ctrl.Result{}, err
	}

	s := &scope{job: job, original: job.DeepCopy(), now: r.Clock.Now()}
	result, err := r.step(ctx, s)
	if werr := r.writeStatus(ctx, s); werr != nil && err == nil {
		err = werr
	}
	recordMetrics(s.job, s.original.Status.JobDeploymentStatus)
	return result, err
}

// step runs the handler of the job's current state.
func (r *Reconciler) step(ctx context.Context, s *scope) (ctrl.Result, error) {
	if d := passedDeadline(s.job, s.now); d != nil && !finished(s.job.Status.JobDeploymentStatus) {
		r.stopJob(ctx, s)
		s.fail(d.reason, d.message)
		return ctrl.Result{RequeueAfter: requeueNow}, nil
	}
	switch s.job.Status.JobDeploymentStatus {
	case rayv1.JobDeploymentStatusNew:
		return r.onNew(ctx, s)
	case rayv1.JobDeploymentStatusInitializing:
		return r.onInitializing(ctx, s)
	case rayv1.JobDeploymentStatusWaiting:
		return r.onWaiting(ctx, s)
	case rayv1.JobDeploymentStatusRunning:
		return r.onRunning(ctx, s)
	case rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed:
		return r.onFinished(ctx, s)
	case rayv1.JobDeploymentStatusRetrying:
		return r.onRetrying(ctx, s)
	case rayv1.JobDeploymentStatusSuspending:
		return r.onSuspending(ctx, s)
	case rayv1.JobDeploymentStatusSuspended:
		return r.onSuspended(ctx, s)
	case rayv1.JobDeploymentStatusValidationFailed:
		return r.onValidationFailed(ctx, s)
	}
	return ctrl.Result{}, nil
}

// writeStatus is the one status write of a reconcile, with an event for a
// change of jobDeploymentStatus.
func (r *Reconciler) writeStatus(ctx context.Context, s *scope) error {
	s.job.Status.ObservedGeneration = s.job.Generation
	if equality.Semantic.DeepEqual(s.original.Status, s.job.Status) {
		return nil
	}
	if from, to := s.original.Status.JobDeploymentStatus, s.job.Status.JobDeploymentStatus; from != to {
		kind := "Normal"
		if to == rayv1.JobDeploymentStatusFailed || to == rayv1.JobDeploymentStatusValidationFailed {
			kind = "Warning"
		}
		note := string(to)
		if s.job.Status.Message != "" && kind == "Warning" {
			note += ": " + s.job.Status.Message
		}
		r.Recorder.Eventf(s.job, nil, kind, "JobDeploymentStatus"+string(to), "Reconcile", "%s → %s", orNew(from), note)
	}
	return r.Client.Status().Patch(ctx, s.job, client.MergeFrom(s.original))
}

func orNew(s rayv1.JobDeploymentStatus) string {
	if s == "" {
		return "New"
	}
	return string(s)
}

func finished(s rayv1.JobDeploymentStatus) bool {
	switch s {
	case rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed, rayv1.JobDeploymentStatusValidationFailed,
		rayv1.JobDeploymentStatusRetrying, rayv1.JobDeploymentStatusSuspending, rayv1.JobDeploymentStatusSuspended:
		return true
	}
	return false
}

// NewHTTPJobClient is the job API client of a dashboard address that sends
// token on every request (none when empty) through base (nil: the default
// transport).
func NewHTTPJobClient(address, token string, base http.RoundTripper) (JobClient, error) {
	c, err := jobclient.New(address)
	if err != nil {
		return nil, err
	}
	c.HTTP = &http.Client{Transport: authtoken.Transport(token, base)}
	return c, nil
}

// requeueSoon is the polling interval while the job is being set up or runs.
const requeueSoon = 2 * time.Second

// requeueNow runs the next state's handler right after a transition
// (Result.Requeue is deprecated; a short RequeueAfter does the same).
const requeueNow = 10 * time.Millisecond
