package integration

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// The cluster: a head on 127.0.0.61 (no CPUs, so replicas land on the
// worker) and a worker node on 127.0.0.62, both `goray start --block`
// processes built by TestMain, with goray-examples as the serve binary.
const (
	headIP   = "127.0.0.61"
	workerIP = "127.0.0.62"
	deadline = 90 * time.Second
)

var (
	binDir    string
	dashboard string // http://host:port
	servePort int
	grpcPort  int // the serve gRPC proxies'
	api       *client.Client
	procs     []*exec.Cmd
	tmpRoot   string // GORAY_TMPDIR of both nodes: their session directories
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("GORAY_SERVE_PLAIN_HTTP"); addr != "" {
		plainServer(addr) // the benchmark's floor, in its own process
		return
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	d, err := os.MkdirTemp("", "goray-serve-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(d)
	binDir = filepath.Join(d, "bin")
	testproc.CollectRaces(d)
	build := testproc.GoBuild(binDir+"/", "github.com/goray-dev/goray/cmd/goray", "github.com/goray-dev/goray/cmd/goray-examples")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build:", err)
		return 1
	}
	gcsPort, dashPort := testproc.MustFreePort(headIP), testproc.MustFreePort(headIP)
	servePort, grpcPort = testproc.MustFreePort(workerIP), testproc.MustFreePort(workerIP)
	tmpRoot = filepath.Join(d, "tmp")
	env := append(os.Environ(), "GORAY_TMPDIR="+tmpRoot, "GORAY_HEALTH_TIMEOUT=2s",
		"GORAY_SERVE_BINARY="+filepath.Join(binDir, "goray-examples"))
	start := func(ip string, args ...string) error {
		args = append([]string{"start", "--block", "--node-ip-address=" + ip, "--metrics-export-port=0",
			"--dashboard-agent-listen-port=" + strconv.Itoa(testproc.MustFreePort(ip)), "--serve-port=" + strconv.Itoa(servePort),
			"--serve-grpc-port=" + strconv.Itoa(grpcPort)}, args...)
		cmd := exec.Command(filepath.Join(binDir, "goray"), args...)
		cmd.Env = env
		logf, err := os.Create(filepath.Join(os.TempDir(), "goray-serve-test-"+ip+".log"))
		if err != nil {
			return err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		testproc.DieWithParent(cmd)
		if err := cmd.Start(); err != nil {
			return err
		}
		procs = append(procs, cmd)
		return nil
	}
	defer func() {
		for _, p := range procs {
			p.Process.Signal(os.Interrupt)
		}
		for _, p := range procs {
			done := make(chan struct{})
			go func() { _ = p.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				p.Process.Kill()
				<-done
			}
		}
	}()
	if err := start(headIP, "--head", "--port="+strconv.Itoa(gcsPort), "--num-cpus=0", "--dashboard-host="+headIP,
		"--dashboard-port="+strconv.Itoa(dashPort)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dashboard = fmt.Sprintf("http://%s:%d", headIP, dashPort)
	api = client.New(dashboard)
	if err := waitHTTP(dashboard + "/api/gcs_healthz"); err != nil {
		fmt.Fprintln(os.Stderr, "head:", err)
		return 1
	}
	if err := start(workerIP, fmt.Sprintf("--address=%s:%d", headIP, gcsPort), "--num-cpus=8"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if err := waitHTTP(proxyURL(workerIP, "/-/healthz")); err != nil {
		fmt.Fprintln(os.Stderr, "worker proxy:", err)
		return 1
	}
	return testproc.RunCheckingRaces(m, d)
}

func waitHTTP(url string) error {
	end := time.Now().Add(deadline)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s did not answer 200 in %v: %w", url, deadline, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func proxyURL(ip, path string) string { return fmt.Sprintf("http://%s:%d%s", ip, servePort, path) }

// get returns the status and body of a GET.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// deploy PUTs a YAML serve config and fails the test on an error.
func deploy(t *testing.T, yamlCfg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := api.PutYAML(ctx, []byte(yamlCfg)); err != nil {
		t.Fatalf("deploy: %v\n%s", err, yamlCfg)
	}
}

func status(t *testing.T) *schema.ServeInstanceDetails {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d, err := api.Get(ctx)
	if err != nil {
		t.Fatalf("GET status: %v", err)
	}
	return d
}

// waitFor polls cond (with the latest status) until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func(*schema.ServeInstanceDetails) bool) *schema.ServeInstanceDetails {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		d := status(t)
		if cond(d) {
			return d
		}
		if time.Now().After(end) {
			b := statusSummary(d)
			t.Fatalf("timed out waiting for %s; status:\n%s", what, b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func statusSummary(d *schema.ServeInstanceDetails) string {
	var sb strings.Builder
	for n, a := range d.Applications {
		fmt.Fprintf(&sb, "app %s: %s %q\n", n, a.Status, a.Message)
		for dn, dd := range a.Deployments {
			fmt.Fprintf(&sb, "  %s: %s/%s target %d %q\n", dn, dd.Status, dd.StatusTrigger, dd.TargetNumReplicas, dd.Message)
			for _, r := range dd.Replicas {
				fmt.Fprintf(&sb, "    %s %s pid %d %s\n", r.ReplicaID, r.State, r.PID, r.Address)
			}
		}
	}
	return sb.String()
}

// appRunning is true when app is RUNNING with every deployment at its target
// of RUNNING replicas.
func appRunning(app string) func(*schema.ServeInstanceDetails) bool {
	return func(d *schema.ServeInstanceDetails) bool {
		a, ok := d.Applications[app]
		if !ok || a.Status != schema.AppRunning {
			return false
		}
		for _, dd := range a.Deployments {
			n := 0
			for _, r := range dd.Replicas {
				if r.State == schema.ReplicaRunning {
					n++
				}
			}
			if n != dd.TargetNumReplicas || len(dd.Replicas) != n {
				return false
			}
		}
		return true
	}
}

// shutdown deletes every application.
func shutdown(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if err := api.Delete(ctx); err != nil {
		t.Fatalf("DELETE: %v", err)
	}
}

var execCommand = exec.Command

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
