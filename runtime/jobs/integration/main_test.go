// Package integration runs the job API as users and KubeRay reach it: goray
// heads and nodes as real processes on their own loopback addresses, driven
// by KubeRay's own dashboard client and submitter, goray's CLI and plain
// HTTP.
package integration

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/internal/testproc"
)

// binDir holds the race-built goray binaries the tests start.
var binDir string

const deadline = 90 * time.Second

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	d, err := os.MkdirTemp("", "goray-jobs-it-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(d)
	binDir = filepath.Join(d, "bin")
	build := testproc.GoBuild(binDir+"/", "github.com/goray-dev/goray/cmd/goray", "github.com/goray-dev/goray/cmd/goray-examples")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build goray:", err)
		return 1
	}
	testproc.CollectRaces(d)
	return testproc.RunCheckingRaces(m, d)
}

func needProcesses(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: no runtime processes")
	}
}

// proc is a process a test started; it is stopped by pid when the test ends.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    string
}

func start(t *testing.T, env []string, logPath, bin string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = f, f
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), out: logPath}
	go func() { _ = cmd.Wait(); _ = f.Close(); close(p.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

func (p *proc) log() string {
	b, _ := os.ReadFile(p.out)
	return string(b)
}

// baseEnv is a clean environment: no token from the machine (HOME points
// into the test's directory) and the binaries on PATH.
func baseEnv(home string, extra ...string) []string {
	env := []string{"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home, "GORAY_HEALTH_TIMEOUT=10s"}
	for _, kv := range os.Environ() { // the race detector's settings for race-built children
		if strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

func randomToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// cluster is a head, and a worker node when asked for, on their own
// loopback addresses.
type cluster struct {
	dir              string
	head, worker     *proc
	headIP, workerIP string
	gcs              string
	dashboard, agent int
	serve            int
	workerAgent      int
	env              []string // the nodes' and the CLI's environment
	token            string   // "" with auth disabled
}

// url is the dashboard's base URL.
func (c *cluster) url() string {
	return "http://" + net.JoinHostPort(c.headIP, strconv.Itoa(c.dashboard))
}

// startCluster starts a head on headIP (and a worker node on workerIP
// unless it is ""), with token auth unless token is "".
func startCluster(t *testing.T, headIP, workerIP, token string) *cluster {
	t.Helper()
	// A short path: unix socket addresses hold ~100 bytes, and nodes serve
	// on unix sockets only where the path fits.
	dir, err := os.MkdirTemp("", "gj")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	env := baseEnv(home, "RAY_AUTH_MODE=disabled")
	if token != "" {
		env = baseEnv(home, "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token)
	}
	c := &cluster{dir: dir, headIP: headIP, workerIP: workerIP, env: env, token: token}
	gcsPort := testproc.Port(t, headIP)
	c.dashboard, c.agent, c.serve = testproc.Port(t, headIP), testproc.Port(t, headIP), testproc.Port(t, headIP)
	goray := filepath.Join(binDir, "goray")
	c.head = start(t, env, filepath.Join(dir, "head.log"), goray, "start", "--head", "--block", "--node-ip-address="+headIP,
		"--port="+strconv.Itoa(gcsPort), "--num-cpus=1", "--dashboard-host="+headIP, "--dashboard-port="+strconv.Itoa(c.dashboard),
		"--dashboard-agent-listen-port="+strconv.Itoa(c.agent), "--metrics-export-port=0",
		"--serve-port="+strconv.Itoa(c.serve), "--temp-dir="+filepath.Join(dir, "head"))
	c.gcs = net.JoinHostPort(headIP, strconv.Itoa(gcsPort))
	waitHTTP(t, c.head, c.url()+"/api/gcs_healthz")
	if workerIP == "" {
		return c
	}
	c.workerAgent = testproc.Port(t, workerIP)
	c.worker = start(t, env, filepath.Join(dir, "worker.log"), goray, "start", "--block", "--address="+c.gcs, "--node-ip-address="+workerIP,
		"--num-cpus=2", "--dashboard-agent-listen-port="+strconv.Itoa(c.workerAgent), "--metrics-export-port=0",
		"--serve-port=0", "--temp-dir="+filepath.Join(dir, "worker"))
	waitHTTP(t, c.worker, "http://"+net.JoinHostPort(workerIP, strconv.Itoa(c.workerAgent))+"/api/local_raylet_healthz")
	return c
}

// waitHTTP polls an open health endpoint until it answers 200.
func waitHTTP(t *testing.T, p *proc, url string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		resp, err := hc.Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("process exited:\n%s", p.log())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered 200:\n%s", url, p.log())
}

// goray runs the CLI against the cluster and returns its output and error.
func (c *cluster) goray(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "goray"), args...)
	cmd.Env = c.env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
