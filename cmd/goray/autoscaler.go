package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/goray-dev/goray/internal/autoscaler"
	"github.com/goray-dev/goray/internal/kubescheme"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// autoscalerCmd is the sidecar the operator injects into the head pod when
// enableInTreeAutoscaling is set; it also runs outside the cluster given a
// kubeconfig and the head's GCS address.
func autoscalerCmd() *cobra.Command {
	var name, namespace, address, kubeconfig string
	var interval, drainDeadline time.Duration
	cmd := &cobra.Command{
		Use:   "autoscaler",
		Short: "Scale a RayCluster's worker groups from the cluster's pending demand (KubeRay patch protocol)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if name == "" || namespace == "" {
				return fmt.Errorf("--cluster-name and --cluster-namespace are required")
			}
			cfg, err := restConfig(kubeconfig)
			if err != nil {
				return err
			}
			kube, err := client.NewWithWatch(cfg, client.Options{Scheme: kubescheme.New()})
			if err != nil {
				return err
			}
			conn, err := dialGCS(address)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			a := autoscaler.New(autoscaler.Config{ClusterName: name, Namespace: namespace, Interval: interval, DrainDeadline: drainDeadline,
				Logger: log.New(os.Stderr, "[autoscaler] ", log.LstdFlags|log.Lmicroseconds)}, kube, rpcpb.NewGcsClient(conn))
			return a.Run(ctx)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&name, "cluster-name", os.Getenv("RAY_CLUSTER_NAME"), "RayCluster name (default $RAY_CLUSTER_NAME)")
	fl.StringVar(&namespace, "cluster-namespace", os.Getenv("RAY_CLUSTER_NAMESPACE"), "RayCluster namespace (default $RAY_CLUSTER_NAMESPACE)")
	fl.StringVar(&address, "address", "127.0.0.1:6379", "the head's GCS address")
	fl.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster config, then $KUBECONFIG / ~/.kube/config)")
	fl.DurationVar(&interval, "interval", 200*time.Millisecond, "longest time between rounds (changes to the RayCluster or its pods start one at once)")
	fl.DurationVar(&drainDeadline, "drain-deadline", 30*time.Second, "how long a drained node waits for its pod's deletion before leaving on its own")
	return cmd
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("no in-cluster config and no kubeconfig: %w", err)
	}
	return cfg, nil
}

// requestResourcesCmd is ray.RequestResources from the command line.
func requestResourcesCmd() *cobra.Command {
	var address, bundles string
	var cpus float64
	cmd := &cobra.Command{
		Use:   "request-resources",
		Short: "Ask the autoscaler for a minimum cluster shape (like ray.autoscaler.sdk.request_resources); no flags clears it",
		Example: `  goray request-resources --num-cpus 8
  goray request-resources --bundles '[{"CPU": 1, "GPU": 1}, {"CPU": 1, "GPU": 1}]'
  goray request-resources   # clear`,
		RunE: func(cmd *cobra.Command, args []string) error {
			var bs []map[string]float64
			if bundles != "" {
				if err := json.Unmarshal([]byte(bundles), &bs); err != nil {
					return fmt.Errorf("--bundles must be a JSON list of resource maps: %w", err)
				}
			}
			for range int(cpus) {
				bs = append(bs, map[string]float64{"CPU": 1})
			}
			if address == "" {
				address = defaultAddress()
			}
			conn, err := dialGCS(address)
			if err != nil {
				return err
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if _, err := rpcpb.NewGcsClient(conn).RequestClusterResourceConstraint(ctx, ray.ConstraintOf(bs...)); err != nil {
				return fmt.Errorf("request resources from %s: %w", address, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "requested %d bundle(s)\n", len(bs))
			return nil
		},
	}
	cmd.Flags().StringVar(&address, "address", "", "GCS address (default $GORAY_ADDRESS, then the head started on this machine)")
	cmd.Flags().Float64Var(&cpus, "num-cpus", 0, "request this many 1-CPU bundles")
	cmd.Flags().StringVar(&bundles, "bundles", "", "JSON list of bundles, e.g. '[{\"CPU\": 4}]'")
	return cmd
}
