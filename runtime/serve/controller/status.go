package controller

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// grpcOptions is the grpc_options of the status, Ray's fields with their
// defaults.
func grpcOptions(g schema.GRPCOptions) map[string]any {
	m := map[string]any{"port": g.Port, "grpc_servicer_functions": append([]string{}, g.GRPCServicerFunctions...)}
	if g.RequestTimeoutS > 0 {
		m["request_timeout_s"] = g.RequestTimeoutS
	}
	return m
}

func unixS(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Details is the ServeInstanceDetails of GET /api/serve/applications/.
func (c *Controller) Details(ctx context.Context) schema.ServeInstanceDetails {
	d := schema.ServeInstanceDetails{
		ControllerInfo: schema.ControllerInfo{NodeID: c.cfg.NodeID, NodeIP: c.cfg.NodeIP, ActorName: "SERVE_CONTROLLER_ACTOR"},
		ProxyLocation:  "EveryNode", DeployMode: "MULTI_APP", GRPCOptions: grpcOptions(schema.GRPCOptions{Port: schema.DefaultGRPCPort}),
		HTTPOptions: schema.HTTPOptions{Host: "0.0.0.0", Port: schema.DefaultHTTPPort},
		Proxies:     map[string]schema.ProxyDetails{}, Applications: map[string]*schema.ApplicationDetails{}, TargetGroups: []schema.TargetGroup{},
	}
	c.mu.Lock()
	if c.deployed != nil {
		if c.deployed.ProxyLocation != "" {
			d.ProxyLocation = c.deployed.ProxyLocation
		}
		if h := c.deployed.HTTPOptions; h != nil {
			d.HTTPOptions = *h
			if d.HTTPOptions.Host == "" {
				d.HTTPOptions.Host = "0.0.0.0"
			}
		}
		d.TargetCapacity = c.deployed.TargetCapacity
		g, _ := c.deployed.GRPC()
		d.GRPCOptions = grpcOptions(g)
	}
	for key, a := range c.apps {
		if key != a.name {
			continue // a replaced application still stopping
		}
		d.Applications[a.name] = c.appDetails(a)
	}
	c.failedDetailsLocked(d.Applications)
	c.mu.Unlock()
	// Proxies publish themselves in the GCS.
	kctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var targets []schema.Target
	if keys, err := c.cfg.GCS.KvKeys(kctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.ProxyPrefix}); err == nil {
		for _, k := range keys.Keys {
			if !strings.HasPrefix(k, routes.ProxyPrefix) {
				continue
			}
			v, err := c.cfg.GCS.KvGet(kctx, &rpcpb.KvRequest{Namespace: routes.Namespace, Key: k})
			if err != nil || !v.Found {
				continue
			}
			var p routes.ProxyInfo
			if json.Unmarshal(v.Value, &p) != nil {
				continue
			}
			st := p.Status
			if time.Since(time.UnixMilli(p.UpdatedMs)) > 10*time.Second {
				st = schema.ProxyUnhealthy
			}
			d.Proxies[p.NodeID] = schema.ProxyDetails{NodeID: p.NodeID, NodeIP: p.NodeIP, NodeInstanceID: p.InstanceID,
				ActorName: "SERVE_PROXY_ACTOR-" + p.NodeID, Status: st, Port: p.Port}
			if st == schema.ProxyHealthy {
				targets = append(targets, schema.Target{IP: p.NodeIP, Port: p.Port, InstanceID: p.InstanceID, Name: "SERVE_PROXY_ACTOR-" + p.NodeID})
			}
		}
	}
	sort.Slice(targets, func(i, j int) bool { return targets[i].Name < targets[j].Name })
	for _, a := range d.Applications {
		if a.RoutePrefix != nil {
			d.TargetGroups = append(d.TargetGroups, schema.TargetGroup{Targets: append([]schema.Target{}, targets...), RoutePrefix: *a.RoutePrefix, Protocol: "HTTP"})
		}
	}
	// In a fixed order: the same state answers the same (before and after a restart too).
	sort.Slice(d.TargetGroups, func(i, j int) bool { return d.TargetGroups[i].RoutePrefix < d.TargetGroups[j].RoutePrefix })
	return d
}

func (c *Controller) appDetails(a *app) *schema.ApplicationDetails {
	rp := a.spec.Route()
	spec := a.spec
	ad := &schema.ApplicationDetails{Name: a.name, RoutePrefix: &rp, DocsPath: a.spec.DocsPath, Status: a.status, Message: a.message,
		LastDeployedTimeS: unixS(a.deployedAt), DeployedAppConfig: &spec, Source: "declarative",
		ExternalScalerEnabled: a.spec.ExternalScalerEnabled, Deployments: map[string]*schema.DeploymentDetails{},
		DeploymentTopology: &schema.DeploymentTopology{AppName: a.name, IngressDeployment: a.info.Ingress, Nodes: map[string]schema.DeploymentNodeInfo{}}}
	if ad.Status == "" {
		ad.Status = schema.AppNotStarted
	}
	for _, n := range a.order {
		dp := a.deps[n]
		dd := &schema.DeploymentDetails{Name: n, Status: dp.status, StatusTrigger: dp.trigger, Message: dp.message,
			DeploymentConfig: dp.cfg.Config(), TargetNumReplicas: dp.target, RequiredResources: dp.cfg.Resources, Replicas: []schema.ReplicaDetails{}}
		if dd.Status == "" {
			dd.Status, dd.StatusTrigger = schema.DepUpdating, schema.TriggerConfigUpdateStarted
		}
		running := 0
		for _, r := range dp.reps {
			if r.gone {
				continue
			}
			if r.state == schema.ReplicaRunning || r.state == schema.ReplicaUpdating {
				running++
			}
			state := r.state
			if r.adopting {
				// Restored from the checkpoint after a restart, not yet
				// checked (Ray Serve's RECOVERING); it is routed to as before.
				state = schema.ReplicaRecovering
			}
			dd.Replicas = append(dd.Replicas, schema.ReplicaDetails{ReplicaID: r.id, State: state, PID: r.info.PID,
				StartTimeS: unixS(r.startedAt), NodeID: r.info.NodeID, NodeIP: r.info.NodeIP, ActorID: r.actorID,
				ActorName: "SERVE_REPLICA::" + a.name + "#" + n + "#" + r.id, WorkerID: r.info.WorkerID, Address: r.info.Address})
		}
		if dp.cfg.Autoscaling != nil {
			total := 0.0
			if k := len(dp.samples); k > 0 {
				total = dp.samples[k-1].ongoing
			}
			dd.AutoscalingDetail = &schema.AutoscalingDetail{CurrentReplicas: running, TargetReplicas: dp.target, OngoingRequests: total, Decision: dp.autoscaleNote}
		}
		ad.Deployments[n] = dd
		ad.DeploymentTopology.Nodes[n] = schema.DeploymentNodeInfo{Name: n, AppName: a.name, IsIngress: n == a.info.Ingress, OutboundDeployments: []string{}}
	}
	return ad
}
