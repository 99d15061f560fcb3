package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/dashboard"
	"github.com/goray-dev/goray/runtime/jobs"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// dashboardCmd runs the head's HTTP API (health, version, cluster status and
// the Jobs API) as its own process against a running GCS, the way Ray's
// dashboard is a process of its own; `goray start --head --dashboard-port=0`
// leaves the port to it. Job records stay in the GCS across its restarts.
func dashboardCmd() *cobra.Command {
	var gcsAddr, host, nodeIP, tempDir string
	var port, agentPort int
	cmd := &cobra.Command{
		Use:   "dashboard --gcs-address=HOST:PORT",
		Short: "Run the dashboard and Jobs API as a separate process against a running GCS",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if gcsAddr == "" {
				return errors.New("--gcs-address is required")
			}
			if nodeIP == "" {
				nodeIP = cluster.LocalIPFor(gcsAddr)
			}
			conn, err := dialGCS(gcsAddr)
			if err != nil {
				return err
			}
			defer conn.Close()
			gcs := rpcpb.NewGcsClient(conn)
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			_, err = gcs.CheckAlive(ctx, &rpcpb.CheckAliveRequest{}, grpc.WaitForReady(true))
			cancel()
			if err != nil {
				return fmt.Errorf("GCS at %s: %w", gcsAddr, err)
			}
			logger := log.New(os.Stderr, "[dashboard] ", log.LstdFlags)
			sec, err := security()
			if err != nil {
				return err
			}
			mgr, err := jobs.NewManager(cmd.Context(), jobs.Config{GCS: gcs, GcsAddress: gcsAddr, Dir: tmpRoot(&startFlags{tempDir: tempDir}),
				NodeIP: nodeIP, Logger: logger, Security: sec})
			if err != nil {
				return err
			}
			dash := dashboard.New(gcs, "") // no node in this process
			mgr.Register(dash.Mux)
			dash.State.Jobs = mgr.List
			dash.UseNodeCredentials(sec)
			dash.MountLogs(agentPort, sec)
			// As on the head: the health probes, the web page's shell and its login answer without the token.
			srv, err := cluster.ServeHTTP(host, port, sec.Handler(dash.Mux, dashboard.Policy()), sec)
			if err != nil {
				mgr.Close()
				return err
			}
			fmt.Printf("goray dashboard listening on %s:%d (GCS %s)\n", host, port, gcsAddr)
			sig := make(chan os.Signal, 1)
			signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
			<-sig
			_ = srv.Close()
			mgr.Close()
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&gcsAddr, "gcs-address", "", "the head's GCS address HOST:PORT")
	fl.StringVar(&host, "host", "127.0.0.1", "bind host")
	fl.IntVar(&port, "port", 8265, "HTTP port")
	fl.StringVar(&nodeIP, "node-ip-address", "", "this node's IP (default: the address used to reach the GCS)")
	fl.StringVar(&tempDir, "temp-dir", "", "temp dir root for job logs (default $GORAY_TMPDIR or /tmp/goray)")
	fl.IntVar(&agentPort, "dashboard-agent-listen-port", 52365, "the nodes' agent port, where the log API reads their logs")
	return cmd
}
