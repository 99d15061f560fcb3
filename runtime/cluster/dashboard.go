package cluster

import (
	"context"
	"net"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/dashboard"
	"github.com/goray-dev/goray/runtime/jobs"
)

// The head's dashboard (Ray's :8265) with the job API, the state and log
// APIs and the serve REST API, and every node's agent (Ray's :52365).

// startDashboard starts the head's dashboard on DashboardHost:DashboardPort
// with the job manager and the serve controller mounted on it. agentPort is
// the port its log API reaches the nodes' agents on.
func (c *Cluster) startDashboard(ctx context.Context, agentPort int) error {
	dash := dashboard.New(c.gcs, c.nodeAddr)
	var err error
	if c.jobs, err = jobs.NewManager(ctx, jobs.Config{GCS: c.gcs, GcsAddress: c.gcsAddr, Dir: c.cfg.TempDir, NodeIP: c.ip, Logger: c.log,
		Security: c.sec}); err != nil {
		return err
	}
	c.jobs.Register(dash.Mux)
	dash.State.Jobs = c.jobs.List
	dash.UseNodeCredentials(c.sec)   // /api/v0/workers asks every node
	dash.MountLogs(agentPort, c.sec) // every node's agent listens on this port
	c.startServeController(dash.Mux)
	lis, err := listenAPI(c.cfg.DashboardHost, c.cfg.DashboardPort, "dashboard")
	if err != nil {
		return err
	}
	// The dashboard also gives anyone its web page's shell and login.
	c.dashAddr = c.reachable(c.serveAPI(lis, c.cfg.DashboardHost, dash.Mux, "dashboard", dashboard.Policy()))
	return nil
}

// startAgent serves the node agent on lis (nil: off): the health probes
// answer without the token.
func (c *Cluster) startAgent(lis net.Listener, bind string) {
	agent := dashboard.AgentMux(c.gcs, c.nodeAddr, c.cfg.Head)
	dashboard.MountLogAgent(agent, dashboard.NodeLogFiles(c.cfg.TempDir, c.cfg.Node.Dir, c.cfg.Head))
	c.agentAddr = c.reachable(c.serveAPI(lis, bind, agent, "node agent", auth.HTTPPolicy{Open: []string{dashboard.NodeHealthPath, dashboard.HealthPath}}))
}
