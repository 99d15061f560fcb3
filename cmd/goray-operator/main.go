// Command goray-operator runs the controllers that reconcile RayCluster,
// RayJob and RayService objects into pods running goray's runtime.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/operator"
)

func main() {
	o := operator.DefaultOptions()
	var namespaces string
	var qps float64
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "address of the Prometheus /metrics endpoint (0 disables it)")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "address of the /healthz and /readyz endpoints")
	flag.StringVar(&o.PprofAddr, "pprof-bind-address", "", "address of the net/http/pprof endpoints (empty: off)")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	flag.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader-election Lease")
	flag.StringVar(&namespaces, "watch-namespace", "", "comma-separated namespaces to watch (default: all)")
	flag.IntVar(&o.Concurrency, "reconcile-concurrency", o.Concurrency, "objects of each kind reconciled at once")
	flag.Float64Var(&qps, "qps", float64(o.QPS), "steady requests per second to the API server")
	flag.IntVar(&o.Burst, "burst", o.Burst, "request burst to the API server")
	flag.BoolVar(&o.APICompression, "api-compression", false, "ask the API server for gzip-compressed lists and watch streams (costs it CPU; for slow links)")
	flag.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "DNS suffix of Services in the cluster")
	flag.StringVar(&o.RuntimeImage, "runtime-image", o.RuntimeImage, "goray's runtime image, run in place of Ray's images (rayproject/ray*, anyscale/ray*) so KubeRay manifests run unchanged (empty: keep every image as written)")
	var batchScheduler string
	var enableBatchScheduler bool
	flag.StringVar(&batchScheduler, "batch-scheduler", "", "gang scheduling of RayClusters that opt in (label ray.io/gang-scheduling-enabled=true): kube-scheduler (the Workload API, Kubernetes 1.37 with GenericWorkload), or KubeRay's yunikorn or kai-scheduler (pod metadata only); volcano and scheduler-plugins are refused")
	flag.BoolVar(&enableBatchScheduler, "enable-batch-scheduler", false, "KubeRay's older switch for --batch-scheduler=volcano, which goray refuses")
	var featureGates string
	flag.StringVar(&featureGates, "feature-gates", "", "KubeRay's feature gates, Name=true|false,... (goray honours RayCronJob; see docs/compatibility.md for the others)")
	var podDefaults operator.PodDefaultsFlags
	flag.StringVar(&podDefaults.Env, operator.FlagDefaultContainerEnvs, "", "JSON list of env vars added to the Ray container of every head and worker pod (the pod's own names win)")
	flag.StringVar(&podDefaults.Labels, operator.FlagDefaultPodLabels, "", "JSON object of labels added to every head and worker pod (the pod's own keys win)")
	flag.StringVar(&podDefaults.Annotations, operator.FlagDefaultPodAnnotations, "", "JSON object of annotations added to every head and worker pod (the pod's own keys win)")
	flag.StringVar(&podDefaults.HeadSidecars, operator.FlagHeadSidecarContainers, "", "JSON list of containers appended to every head pod")
	flag.StringVar(&podDefaults.WorkerSidecars, operator.FlagWorkerSidecarContainers, "", "JSON list of containers appended to every worker pod")
	var logOpts operator.LogOptions
	flag.StringVar(&logOpts.StdoutEncoder, "log-stdout-encoder", "", "json or console (default: json, console with --zap-devel)")
	flag.StringVar(&logOpts.FilePath, "log-file-path", "", "also write the log to this file")
	flag.StringVar(&logOpts.FileEncoder, "log-file-encoder", "json", "json or console, for --log-file-path")
	flag.Int64Var(&logOpts.FileMaxBytes, "log-file-max-bytes", operator.DefaultLogFileMaxBytes, "rotate --log-file-path to <path>.1 at this size")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	var err error
	if o.FeatureGates, err = operator.ParseFeatureGates(featureGates); err != nil {
		fail(err)
	}
	if o.PodDefaults, err = operator.ParsePodDefaults(podDefaults); err != nil {
		fail(err)
	}
	scheduler, schedulerErr := desired.ResolveBatchScheduler(batchScheduler, enableBatchScheduler)
	if schedulerErr != nil {
		fmt.Fprintln(os.Stderr, "goray-operator:", schedulerErr)
		os.Exit(1)
	}
	o.BatchScheduler = scheduler
	if os.Getenv("GOGC") == "" {
		// The live heap is mostly the informer caches; a burst of creates
		// (a thousand RayClusters at once) makes short-lived garbage that
		// the default pacing (GOGC=100) lets double the heap. Memory is what
		// the operator's Deployment is sized by, its CPU is mostly idle:
		// collect earlier (peak RSS 103 → 76 MiB in make bench-operator
		// for ~2 CPU-seconds more). GOGC in the environment overrides this.
		debug.SetGCPercent(50)
	}
	logger, logFile, err := operator.NewLogger(zapOpts, logOpts)
	if err != nil {
		fail(err)
	}
	defer func() { _ = logFile.Close() }()
	ctrl.SetLogger(logger)
	o.WatchNamespaces = operator.ParseNamespaces(namespaces)
	o.QPS = float32(qps)

	cfg, err := ctrl.GetConfig()
	if err == nil {
		var mgr ctrl.Manager
		if mgr, err = operator.NewManager(cfg, o); err == nil {
			err = mgr.Start(ctrl.SetupSignalHandler())
		}
	}
	if err != nil {
		_ = logFile.Close()
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "goray-operator:", err)
	os.Exit(1)
}
