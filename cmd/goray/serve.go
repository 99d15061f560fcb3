package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// serveCmd is `goray serve`, Ray's `serve deploy|status|shutdown` against a head's dashboard.
func serveCmd() *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Deploy, inspect and shut down serve applications through a head's dashboard (:8265)",
	}
	cmd.PersistentFlags().StringVarP(&address, "address", "a", "",
		"dashboard address, http://HOST:PORT or HOST:PORT (default $RAY_DASHBOARD_ADDRESS, $RAY_ADDRESS if it is an http URL, or http://127.0.0.1:8265)")
	newClient := func() (*client.Client, error) {
		url, hc, err := dashboardTarget(address)
		if err != nil {
			return nil, err
		}
		return client.NewWithTransport(url, hc.Transport), nil
	}
	cmd.AddCommand(serveDeployCmd(newClient), serveStatusCmd(newClient), serveShutdownCmd(newClient))
	return cmd
}

// serveConfigFrom accepts a serve config (YAML or JSON) or a RayService
// manifest, whose spec.serveConfigV2 is taken.
func serveConfigFrom(data []byte) ([]byte, error) {
	var probe struct {
		Kind string `json:"kind"`
		Spec struct {
			ServeConfigV2 string `json:"serveConfigV2"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(data, &probe); err == nil && probe.Kind == "RayService" {
		if probe.Spec.ServeConfigV2 == "" {
			return nil, fmt.Errorf("the RayService has no spec.serveConfigV2")
		}
		data = []byte(probe.Spec.ServeConfigV2)
	}
	return yaml.YAMLToJSON(data)
}

func serveDeployCmd(newClient func() (*client.Client, error)) *cobra.Command {
	return &cobra.Command{
		Use:   "deploy CONFIG.yaml",
		Short: "Deploy a serve config (a ServeDeploySchema in YAML or JSON, a RayService's serveConfigV2, or a RayService manifest)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			j, err := serveConfigFrom(data)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Minute)
			defer cancel()
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.PutJSON(ctx, j); err != nil {
				return fmt.Errorf("deploy %s: %w", args[0], err)
			}
			fmt.Println("Sent deploy request successfully.\n * Use `goray serve status` to check applications' statuses.")
			return nil
		},
	}
}

// statusView is `serve status`'s YAML shape.
type statusView struct {
	Proxies        map[string]string        `json:"proxies"`
	Applications   map[string]appStatusView `json:"applications"`
	TargetCapacity *float64                 `json:"target_capacity"`
}

type appStatusView struct {
	Status            string                   `json:"status"`
	Message           string                   `json:"message"`
	LastDeployedTimeS float64                  `json:"last_deployed_time_s"`
	Deployments       map[string]depStatusView `json:"deployments"`
}

type depStatusView struct {
	Status        string         `json:"status"`
	StatusTrigger string         `json:"status_trigger"`
	ReplicaStates map[string]int `json:"replica_states"`
	Message       string         `json:"message"`
}

func statusOf(d *schema.ServeInstanceDetails) statusView {
	v := statusView{Proxies: map[string]string{}, Applications: map[string]appStatusView{}, TargetCapacity: d.TargetCapacity}
	for id, p := range d.Proxies {
		v.Proxies[id] = p.Status
	}
	names := make([]string, 0, len(d.Applications))
	for n := range d.Applications {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := d.Applications[n]
		av := appStatusView{Status: a.Status, Message: a.Message, LastDeployedTimeS: a.LastDeployedTimeS, Deployments: map[string]depStatusView{}}
		for dn, dd := range a.Deployments {
			states := map[string]int{}
			for _, r := range dd.Replicas {
				states[r.State]++
			}
			av.Deployments[dn] = depStatusView{Status: dd.Status, StatusTrigger: dd.StatusTrigger, ReplicaStates: states, Message: dd.Message}
		}
		v.Applications[n] = av
	}
	return v
}

func serveStatusCmd(newClient func() (*client.Client, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the applications' and deployments' statuses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			c, err := newClient()
			if err != nil {
				return err
			}
			d, err := c.Get(ctx)
			if err != nil {
				return err
			}
			var out []byte
			if asJSON {
				out, err = yaml.YAMLToJSON(mustYAML(d))
			} else {
				out, err = yaml.Marshal(statusOf(d))
			}
			if err != nil {
				return err
			}
			fmt.Print(string(out))
			if asJSON {
				fmt.Println()
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the full ServeInstanceDetails as JSON")
	return cmd
}

func mustYAML(v any) []byte {
	b, _ := yaml.Marshal(v)
	return b
}

func serveShutdownCmd(newClient func() (*client.Client, error)) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "shutdown",
		Short: "Delete every serve application",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = yes // kept for `serve shutdown -y` compatibility; goray does not prompt
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Minute)
			defer cancel()
			c, err := newClient()
			if err != nil {
				return err
			}
			if err := c.Delete(ctx); err != nil {
				return err
			}
			fmt.Println("Shut down serve: every application was deleted.")
			return nil
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}
