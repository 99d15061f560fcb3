// Command goray-operator runs the controllers that reconcile RayCluster,
// RayJob and RayService objects into pods running goray's runtime.
package main

import (
	"flag"
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/goray-dev/goray/internal/operator"
)

func main() {
	o := operator.DefaultOptions()
	var namespaces string
	var qps float64
	flag.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "address of the Prometheus /metrics endpoint (0 disables it)")
	flag.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "address of the /healthz and /readyz endpoints")
	flag.BoolVar(&o.LeaderElection, "leader-elect", false, "elect a leader so that only one replica reconciles at a time")
	flag.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID, "name of the leader-election Lease")
	flag.StringVar(&namespaces, "watch-namespace", "", "comma-separated namespaces to watch (default: all)")
	flag.IntVar(&o.Concurrency, "reconcile-concurrency", o.Concurrency, "objects of each kind reconciled at once")
	flag.Float64Var(&qps, "qps", float64(o.QPS), "steady requests per second to the API server")
	flag.IntVar(&o.Burst, "burst", o.Burst, "request burst to the API server")
	flag.StringVar(&o.ClusterDomain, "cluster-domain", o.ClusterDomain, "DNS suffix of Services in the cluster")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
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
		fmt.Fprintln(os.Stderr, "goray-operator:", err)
		os.Exit(1)
	}
}
