// Package rayservice reconciles a RayService: a serving RayCluster with the
// serve config applied, stable head and serve Services in front of it, and
// zero-downtime upgrades through a pending cluster that receives traffic
// only once every application on it is RUNNING.
package rayservice

import (
	"context"
	"errors"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/authtoken"
	"github.com/goray-dev/goray/controllers/clustertls"
	"github.com/goray-dev/goray/internal/desired"
	serveclient "github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Finalizer lets the controller see a RayService's deletion.
const Finalizer = "ray.io/rayservice-finalizer"

// ServeClient is the part of the serve API client the controller uses.
type ServeClient interface {
	PutJSON(ctx context.Context, body []byte) error
	Get(ctx context.Context) (*schema.ServeInstanceDetails, error)
	// PutTrafficSplit and GetTrafficSplit set and read the share of
	// requests the cluster's proxies forward to another cluster (an
	// incremental upgrade's traffic shifting).
	PutTrafficSplit(ctx context.Context, s schema.TrafficSplit) error
	GetTrafficSplit(ctx context.Context) (schema.TrafficSplit, error)
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

// NewHTTPServeClient is the serve API client of a dashboard address that
// sends token on every request (none when empty) through base (nil: the
// default transport).
func NewHTTPServeClient(address, token string, base http.RoundTripper) ServeClient {
	return serveclient.NewWithTransport(address, authtoken.Transport(token, base))
}

// Reconciler reconciles RayServices.
type Reconciler struct {
	Client        client.Client
	Recorder      events.EventRecorder
	Clock         clock.PassiveClock
	ClusterDomain string
	Concurrency   int
	// DashboardAddress is host:port of a cluster's serve API; nil means the
	// head Service's DNS name.
	DashboardAddress func(*rayv1.RayCluster) string
	// NewServeClient makes a serve API client for a dashboard address
	// (https://… for a TLS cluster) that sends the cluster's auth token (""
	// when it runs without one) through base (nil: the default transport;
	// for a TLS cluster, one that trusts its CA); nil means
	// NewHTTPServeClient.
	NewServeClient func(address, token string, base http.RoundTripper) ServeClient
	// Tokens finds a cluster's auth token; nil reads it through the manager
	// (the cluster's Secret, or the head container's own RAY_AUTH_TOKEN).
	Tokens TokenReader
	// TLS finds the transport to a TLS cluster; nil reads the CA of its
	// certificate Secret through the manager.
	TLS TLSReader
	// ProxyHealth checks the serve proxy of a pod that listens on port (the
	// pod's --serve-port, desired.PodServePort); nil means GET
	// <podIP>:<port>/-/healthz.
	ProxyHealth func(ctx context.Context, pod *corev1.Pod, port int32) error
	// DisableIncrementalUpgrade is KubeRay's RayServiceIncrementalUpgrade
	// gate set false: as KubeRay then, a RayService asking for
	// NewClusterWithIncrementalUpgrade gets no new cluster for a spec change.
	DisableIncrementalUpgrade bool
	// RandomSuffix makes cluster name suffixes.
	RandomSuffix       func() string
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
	if r.NewServeClient == nil {
		r.NewServeClient = NewHTTPServeClient
	}
	if r.Tokens == nil {
		r.Tokens = authtoken.New(mgr.GetClient(), mgr.GetAPIReader())
	}
	if r.TLS == nil {
		r.TLS = clustertls.New(mgr.GetClient(), mgr.GetAPIReader())
	}
	if r.ProxyHealth == nil {
		r.ProxyHealth = func(ctx context.Context, p *corev1.Pod, port int32) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			return serveclient.ProxyHealthz(ctx, p.Status.PodIP, int(port))
		}
	}
	if r.RandomSuffix == nil {
		r.RandomSuffix = func() string { return utilrand.String(5) }
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rayv1.RayService{}).
		Owns(&rayv1.RayCluster{}).
		Owns(&corev1.Service{}).
		WithOptions(controller.Options{MaxConcurrentReconciles: max(r.Concurrency, 1), SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}

// Reconcile runs the phases of one RayService and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rs := &rayv1.RayService{}
	if err := r.Client.Get(ctx, req.NamespacedName, rs); err != nil {
		if apierrors.IsNotFound(err) {
			forgetMetrics(req.Namespace, req.Name)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if rs.Spec.ManagedBy != nil && *rs.Spec.ManagedBy != rayv1.KubeRayOperatorName {
		return ctrl.Result{}, nil
	}
	if !rs.DeletionTimestamp.IsZero() {
		// Clusters and Services go with the RayService through owner references.
		before := rs.DeepCopy()
		controllerutil.RemoveFinalizer(rs, Finalizer)
		return ctrl.Result{}, client.IgnoreNotFound(r.Client.Patch(ctx, rs, client.MergeFrom(before)))
	}
	if !controllerutil.ContainsFinalizer(rs, Finalizer) {
		before := rs.DeepCopy()
		controllerutil.AddFinalizer(rs, Finalizer)
		if err := r.Client.Patch(ctx, rs, client.MergeFrom(before)); err != nil {
			return ctrl.Result{}, err
		}
	}

	s := &scope{rs: rs, original: rs.DeepCopy(), now: r.Clock.Now(), requeue: 2 * time.Second,
		incremental: incremental(rs) && !r.DisableIncrementalUpgrade}
	var errs []error
	for _, phase := range []func(context.Context, *scope) (bool, error){
		r.validate,
		r.loadClusters,
		r.deleteReplacedClusters,
		r.suspend,
		r.reconcileClusters,
		r.reconcileServe,
		r.incrementalUpgrade,
		r.promote,
		r.labelServingPods,
		r.reconcileServices,
	} {
		done, err := phase(ctx, s)
		if err != nil {
			errs = append(errs, err)
		}
		if done || err != nil {
			break
		}
	}
	setConditions(s)
	if err := r.writeStatus(ctx, s); err != nil {
		errs = append(errs, err)
	}
	recordMetrics(s.rs)
	if err := errors.Join(errs...); err != nil {
		return ctrl.Result{}, err
	}
	return ctrl.Result{RequeueAfter: s.requeue}, nil
}

func (r *Reconciler) writeStatus(ctx context.Context, s *scope) error {
	s.rs.Status.ObservedGeneration = s.rs.Generation
	if equality.Semantic.DeepEqual(s.original.Status, s.rs.Status) {
		return nil
	}
	s.rs.Status.LastUpdateTime = nowPtr(s.now)
	return r.Client.Status().Patch(ctx, s.rs, client.MergeFrom(s.original))
}
