// Package raycluster reconciles a RayCluster into its head and worker pods,
// its Services, the autoscaler's RBAC and the auth Secret, and reports what
// it sees in the RayCluster's status.
package raycluster

import (
	"context"
	"errors"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/expectations"
)

// Reconciler reconciles RayClusters.
type Reconciler struct {
	Client client.Client
	// BatchScheduler is the operator's --batch-scheduler; kube-scheduler
	// has the opted-in clusters gang-scheduled (gang.go).
	BatchScheduler string
	// APIReader reads what the label-scoped cache does not hold (a user's
	// auth Secret); nil means the manager's.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	// ClusterDomain is the DNS suffix of Services (default cluster.local).
	ClusterDomain string
	// Concurrency is the number of clusters reconciled at once.
	Concurrency int
	// TokenSource makes auth tokens; nil means crypto/rand.
	TokenSource func() (string, error)
	// PodDefaults are the operator-wide additions to every head and worker
	// pod (--default-container-envs and friends); nil adds nothing.
	PodDefaults *desired.PodDefaults
	// RuntimeImage is goray's runtime image, run in place of Ray's images
	// (rayproject/ray*, anyscale/ray*) in the containers that run goray's
	// commands; "" keeps every image as written.
	RuntimeImage string
	// OperatorNamespace is where the operator's pods run, let in by the
	// clusters' NetworkPolicies; "" means $POD_NAMESPACE or the service
	// account's namespace.
	OperatorNamespace string
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool

	expectations *expectations.Expectations
	imageNotes   runtimeImageNotes
}

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if r.TokenSource == nil {
		r.TokenSource = randomToken
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.OperatorNamespace == "" {
		r.OperatorNamespace = defaultOperatorNamespace()
	}
	r.expectations = expectations.New(r.Clock, expectations.DefaultTimeout)
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &corev1.Pod{}, podsByCluster, podClusterName); err != nil {
		return err
	}
	return r.watchGang(ctrl.NewControllerManagedBy(mgr)).
		For(&rayv1.RayCluster{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.LabelChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.Pod{}).
		Owns(&corev1.Service{}).
		Owns(&corev1.Secret{}).
		Owns(&batchv1.Job{}).
		Owns(&rbacv1.Role{}).
		Owns(&networkingv1.NetworkPolicy{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Concurrency, 1), SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}

// Reconcile brings one RayCluster's children to what its spec asks for and
// writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cluster := &rayv1.RayCluster{}
	if err := r.Client.Get(ctx, req.NamespacedName, cluster); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.forget(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if managedElsewhere(cluster) {
		return ctrl.Result{}, nil
	}
	if !cluster.DeletionTimestamp.IsZero() {
		return r.reconcileDelete(ctx, cluster)
	}
	if err := r.ensureFinalizer(ctx, cluster); err != nil {
		return ctrl.Result{}, err
	}

	s := &scope{cluster: cluster, now: r.Clock.Now()}
	if err := s.loadPods(ctx, r.Client); err != nil {
		return ctrl.Result{}, err
	}
	s.warnUnsupportedFields(r.Recorder)

	var errs []error
	if f := validate(cluster); f != nil {
		// Nothing can be created from this spec; say so once and wait for an edit.
		s.failure = f
		r.Recorder.Eventf(cluster, nil, corev1.EventTypeWarning, rayv1.InvalidSpec, "Validate", f.message)
	} else {
		for _, phase := range []func(context.Context, *scope) error{
			r.reconcileAutoscalerRBAC,
			r.reconcileAuthSecret,
			r.reconcileTLS,
			r.reconcileNetworkPolicies,
			r.reconcileServices,
			r.reconcileGang,
			r.reconcilePods,
		} {
			if err := phase(ctx, s); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}

	if err := r.writeStatus(ctx, s); err != nil {
		errs = append(errs, err)
	}
	recordMetrics(cluster)
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	if s.requeue {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil
	}
	return ctrl.Result{RequeueAfter: s.requeueAfter}, nil
}

// writeStatus is the one status write of a reconcile, skipped when nothing changed.
func (r *Reconciler) writeStatus(ctx context.Context, s *scope) error {
	st := computeStatus(s.observed())
	if statusEqual(s.cluster.Status, st) {
		return nil
	}
	before := s.cluster.DeepCopy()
	r.emitTransitionEvents(s.cluster, st)
	s.cluster.Status = st
	return r.Client.Status().Patch(ctx, s.cluster, client.MergeFrom(before))
}

// managedElsewhere is true for clusters that MultiKueue reconciles.
func managedElsewhere(c *rayv1.RayCluster) bool {
	return c.Spec.ManagedBy != nil && *c.Spec.ManagedBy != rayv1.KubeRayOperatorName
}
