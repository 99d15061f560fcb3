// Package operator assembles goray's controller manager: the scheme, the
// label-scoped informer caches and every controller. cmd/goray-operator
// parses flags into Options; tests and benchmarks start the same manager
// against their own API server.
package operator

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1beta1 "k8s.io/api/scheduling/v1beta1"
	"k8s.io/apimachinery/pkg/labels"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/authtoken"
	"github.com/goray-dev/goray/controllers/clustertls"
	"github.com/goray-dev/goray/controllers/raycluster"
	"github.com/goray-dev/goray/controllers/raycronjob"
	"github.com/goray-dev/goray/controllers/rayjob"
	"github.com/goray-dev/goray/controllers/rayservice"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/kubescheme"
)

// Options configure the manager.
type Options struct {
	MetricsAddr string
	// PprofAddr serves net/http/pprof ("" or "0": off).
	PprofAddr        string
	ProbeAddr        string
	LeaderElection   bool
	LeaderElectionID string
	// WatchNamespaces limits the caches to these namespaces (empty: all).
	WatchNamespaces []string
	Concurrency     int
	QPS             float32
	Burst           int
	// APICompression asks the API server for gzip-compressed responses
	// (lists and watch streams). Off by default: inside a cluster the bytes
	// are cheap to move and compressing them costs the API server CPU.
	APICompression bool
	ClusterDomain  string
	// RuntimeImage is goray's runtime image, run in place of Ray's images
	// (rayproject/ray*, anyscale/ray*) so that KubeRay's manifests run
	// unchanged; "" keeps every image as written. Default: DefaultRuntimeImage.
	RuntimeImage string
	Clock        clock.PassiveClock
	// FeatureGates are KubeRay's feature gates as given (featuregates.go).
	FeatureGates FeatureGates
	// PodDefaults are added to every head and worker pod (nil: nothing).
	PodDefaults *desired.PodDefaults
	// WrapTransport, when set, wraps the API client's transport (tests use it
	// to watch or fail requests).
	WrapTransport func(http.RoundTripper) http.RoundTripper
	// OperatorNamespace is where the operator's pods run, let in by the
	// RayClusters' NetworkPolicies; "" means $POD_NAMESPACE or the service
	// account's namespace (tests name one).
	OperatorNamespace string
	// SkipNameValidation allows several managers in one process (tests).
	SkipNameValidation bool
	// BatchScheduler is --batch-scheduler: "" (none), kube-scheduler (gang
	// scheduling through the Workload API), yunikorn or kai-scheduler
	// (internal/desired/batchscheduler.go).
	BatchScheduler string
	// DashboardAddress overrides where the controllers reach a cluster's job
	// and serve API (tests point it at a local head process).
	DashboardAddress func(*rayv1.RayCluster) string
	// ProxyHealth overrides the serve proxy health check of a pod whose
	// proxy listens on the port given (tests).
	ProxyHealth func(ctx context.Context, pod *corev1.Pod, port int32) error
}

// Version is the operator's release, the tag of the goray images it goes
// with: "dev" in a development build (hack/cluster/load-images.sh loads
// goray/goray:dev, and the chart's appVersion is "dev"); a release build
// sets it with -ldflags "-X github.com/goray-dev/goray/internal/operator.Version=<tag>".
var Version = "dev"

// DefaultRuntimeImage is the runtime image of the operator's own release.
func DefaultRuntimeImage() string { return "goray/goray:" + Version }

// DefaultOptions are the operator's defaults.
func DefaultOptions() Options {
	return Options{
		MetricsAddr:      ":8080",
		ProbeAddr:        ":8082",
		LeaderElectionID: "goray-operator.ray.io",
		Concurrency:      10,
		QPS:              1000,
		Burst:            2000,
		ClusterDomain:    desired.DefaultClusterDomain,
		RuntimeImage:     DefaultRuntimeImage(),
	}
}

// ParseNamespaces splits a comma-separated --watch-namespace value.
func ParseNamespaces(s string) []string {
	var out []string
	for _, ns := range strings.Split(s, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			out = append(out, ns)
		}
	}
	return out
}

// NewScheme has the built-in kinds and ray.io/v1.
func NewScheme() *k8sruntime.Scheme { return kubescheme.New() }

// NewManager builds a manager with every controller registered.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if err := checkBatchScheduler(cfg, o.BatchScheduler); err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	cfg.DisableCompression = !o.APICompression
	if o.WrapTransport != nil {
		cfg.Wrap(o.WrapTransport)
	}
	if o.Clock == nil {
		o.Clock = clock.RealClock{}
	}
	notices, err := o.FeatureGates.Check()
	if err != nil {
		return nil, err
	}
	for _, n := range notices {
		ctrl.Log.WithName("setup").Info(n)
	}
	if o.PodDefaults != nil {
		if err := o.PodDefaults.Validate(); err != nil {
			return nil, fmt.Errorf("pod defaults: %w", err)
		}
	}
	mgr, err := ctrl.NewManager(cfg, managerOptions(o))
	if err != nil {
		return nil, err
	}
	// One token reader for the job and serve clients: what it remembers of
	// users' Secrets is shared.
	tokens := authtoken.New(mgr.GetClient(), mgr.GetAPIReader())
	// One TLS reader too: one transport per cluster CA, its connections reused.
	clusterTLS := clustertls.New(mgr.GetClient(), mgr.GetAPIReader())
	if err := (&raycluster.Reconciler{
		Client:             mgr.GetClient(),
		Recorder:           mgr.GetEventRecorder("raycluster-controller"),
		Clock:              o.Clock,
		ClusterDomain:      o.ClusterDomain,
		Concurrency:        o.Concurrency,
		RuntimeImage:       o.RuntimeImage,
		BatchScheduler:     o.BatchScheduler,
		PodDefaults:        o.PodDefaults,
		OperatorNamespace:  o.OperatorNamespace,
		SkipNameValidation: o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the RayCluster controller: %w", err)
	}
	if err := (&rayjob.Reconciler{
		Client:             mgr.GetClient(),
		Recorder:           mgr.GetEventRecorder("rayjob-controller"),
		Clock:              o.Clock,
		ClusterDomain:      o.ClusterDomain,
		Concurrency:        o.Concurrency,
		DashboardAddress:   o.DashboardAddress,
		Tokens:             tokens,
		TLS:                clusterTLS,
		RuntimeImage:       o.RuntimeImage,
		SkipNameValidation: o.SkipNameValidation,
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the RayJob controller: %w", err)
	}
	if err := (&rayservice.Reconciler{
		Client:             mgr.GetClient(),
		Recorder:           mgr.GetEventRecorder("rayservice-controller"),
		Clock:              o.Clock,
		ClusterDomain:      o.ClusterDomain,
		Concurrency:        o.Concurrency,
		DashboardAddress:   o.DashboardAddress,
		ProxyHealth:        o.ProxyHealth,
		Tokens:             tokens,
		TLS:                clusterTLS,
		SkipNameValidation: o.SkipNameValidation,
		// KubeRay's gate: off, NewClusterWithIncrementalUpgrade makes no new cluster.
		DisableIncrementalUpgrade: !o.FeatureGates.Enabled(GateRayServiceIncrementalUpgrade),
	}).SetupWithManager(mgr); err != nil {
		return nil, fmt.Errorf("setting up the RayService controller: %w", err)
	}
	// KubeRay runs its RayCronJob controller only with the gate on; goray's
	// default is on, and RayCronJob=false (KubeRay's default values file
	// says so) leaves RayCronJobs alone as KubeRay would.
	if o.FeatureGates.Enabled(GateRayCronJob) {
		if err := (&raycronjob.Reconciler{
			Client:             mgr.GetClient(),
			Recorder:           mgr.GetEventRecorder("raycronjob-controller"),
			Clock:              o.Clock,
			SkipNameValidation: o.SkipNameValidation,
		}).SetupWithManager(mgr); err != nil {
			return nil, fmt.Errorf("setting up the RayCronJob controller: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}
	return mgr, nil
}

// managerOptions scopes the informer caches to the objects goray creates
// (by label), so that memory does not grow with unrelated pods and Jobs.
func managerOptions(o Options) ctrl.Options {
	ours := labels.SelectorFromSet(labels.Set{rayv1.KubernetesCreatedByLabelKey: rayv1.ComponentName})
	byObject := map[client.Object]cache.ByObject{}
	for _, obj := range []client.Object{&corev1.Service{}, &corev1.Secret{}, &corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}, &batchv1.Job{}, &networkingv1.NetworkPolicy{}} {
		byObject[obj] = cache.ByObject{Label: ours}
	}
	byObject[&corev1.Pod{}] = cache.ByObject{Label: ours, Transform: trimPod}
	// Watched only with --batch-scheduler=kube-scheduler (raycluster.Reconciler).
	byObject[&schedulingv1beta1.Workload{}] = cache.ByObject{Label: ours}
	byObject[&schedulingv1beta1.PodGroup{}] = cache.ByObject{Label: ours}
	cacheOpts := cache.Options{ByObject: byObject, DefaultTransform: cache.TransformStripManagedFields()}
	if len(o.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	return ctrl.Options{
		Scheme:                 NewScheme(),
		Metrics:                metricsserver.Options{BindAddress: o.MetricsAddr},
		HealthProbeBindAddress: o.ProbeAddr,
		PprofBindAddress:       o.PprofAddr,
		LeaderElection:         o.LeaderElection,
		LeaderElectionID:       o.LeaderElectionID,
		Cache:                  cacheOpts,
	}
}
