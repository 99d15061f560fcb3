package cluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestServeHeadRestartWithoutStorage: a head without durable storage is
// SIGKILLed and started again: the new cluster knows no application, and
// the worker node's proxy, whose table came from the old cluster, stops
// routing (404, no routes) instead of serving an application nobody
// controls; the old replicas' processes end. (With durable storage,
// TestHeadRestartUnderLoad restarts a head under serve load.)
func TestServeHeadRestartWithoutStorage(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts goray processes")
	}
	const headIP, workerIP = "127.0.0.71", "127.0.0.72"
	ctx := context.Background()
	tmp := t.TempDir()
	gcsPort, dashPort, servePort := testproc.Port(t, headIP), testproc.Port(t, headIP), testproc.Port(t, workerIP)
	gcsAddr := headIP + ":" + strconv.Itoa(gcsPort)
	dash := "http://" + headIP + ":" + strconv.Itoa(dashPort)
	env := []string{"GORAY_TMPDIR=" + filepath.Join(tmp, "goray"), "GORAY_HEALTH_TIMEOUT=2s"}
	headEnv := append([]string{"GORAY_SERVE_BINARY=" + examplesBin(t)}, env...)
	headArgs := []string{"start", "--head", "--block", "--node-ip-address=" + headIP, "--port=" + strconv.Itoa(gcsPort),
		"--num-cpus=0", "--dashboard-host=" + headIP, "--dashboard-port=" + strconv.Itoa(dashPort), "--metrics-export-port=0",
		"--serve-port=0", "--dashboard-agent-listen-port=" + strconv.Itoa(testproc.Port(t, headIP))}
	headLog := filepath.Join(tmp, "head.log")
	head := startProc(t, headLog, headEnv, headArgs...)
	g := gcsClient(t, gcsAddr)
	head.waitUp(t, "head up", time.Minute, func() error {
		_, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err
	})
	worker := startProc(t, filepath.Join(tmp, "worker.log"), env, "start", "--block", "--address="+gcsAddr,
		"--node-ip-address="+workerIP, "--num-cpus=2", `--resources={"serve_node": 1}`, "--metrics-export-port=0",
		"--serve-port="+strconv.Itoa(servePort), "--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(t, workerIP)))
	defer func() {
		if t.Failed() {
			t.Logf("head log:\n%s\nworker log:\n%s", head.logText(), worker.logText())
		}
	}()
	eventually(t, "dashboard up", time.Minute, func() error { return httpJSON("GET", dash+"/api/gcs_healthz", nil, nil) })

	so := beginServeOutage(t, serveOutageConfig{Dashboard: dash, ProxyURL: fmt.Sprintf("http://%s:%d", workerIP, servePort),
		NodeIP: workerIP, Pin: "serve_node", GCS: g})
	t.Logf("%s: killing the head (pid %d)", time.Now().Format("15:04:05.000"), head.cmd.Process.Pid)
	head.kill()
	head = startProc(t, headLog, headEnv, headArgs...)
	head.waitUp(t, "head up again", time.Minute, func() error {
		_, err := g.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		return err
	})
	t.Logf("%s: the GCS answers again", time.Now().Format("15:04:05.000"))
	so.load.stop(so.cfg.Clients)
	so.checkForgotten(t)
}

// freePortOn is a free TCP port on ip.
