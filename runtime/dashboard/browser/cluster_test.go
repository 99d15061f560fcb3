package browser

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
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/ray"
)

var (
	binDir string // goray and goray-examples, built once
	token  string // the cluster's token: the nodes', this driver's
)

func TestMain(m *testing.M) {
	if ray.IsWorker() { // the node managers exec this binary to run its tasks and actors
		_ = ray.Init(context.Background())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	token = hex.EncodeToString(b)
	// This process is the driver of the test's actors and tasks: it talks
	// to the cluster with the token, as every client must.
	_ = os.Setenv(auth.EnvMode, auth.ModeToken)
	_ = os.Setenv(auth.EnvToken, token)
	d, err := os.MkdirTemp("", "goray-browser-")
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

// proc is a goray process the test started; it is stopped by its pid.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	log    string
}

func start(t *testing.T, dir, name string, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "goray"), args...)
	cmd.Env = nodeEnv(filepath.Join(dir, "home"))
	cmd.Stdout, cmd.Stderr = f, f
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, exited: make(chan struct{}), log: logPath}
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

func (p *proc) output() string {
	b, _ := os.ReadFile(p.log)
	return string(b)
}

// nodeEnv is the nodes' environment: token auth on, the binaries on PATH,
// no token file from this machine's home.
func nodeEnv(home string) []string {
	env := []string{"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"), "HOME=" + home,
		"GORAY_HEALTH_TIMEOUT=10s", auth.EnvMode + "=" + auth.ModeToken, auth.EnvToken + "=" + token}
	for _, kv := range os.Environ() { // the race detector's settings for race-built children
		if strings.HasPrefix(kv, "GORACE=") {
			env = append(env, kv)
		}
	}
	return env
}

// commonFreePort is a port free on every one of ips.
func commonFreePort(t *testing.T, ips ...string) int {
	t.Helper()
	for range 100 {
		port := testproc.Port(t, ips[0])
		free := true
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				free = false
				break
			}
			_ = l.Close()
		}
		if free {
			return port
		}
	}
	t.Fatalf("no port free on all of %v", ips)
	return 0
}

// cluster is a head on 127.0.0.1 and nodes on 127.0.0.2 and .3, every port
// picked free (other packages' clusters share these addresses).
type cluster struct {
	gcs, dashboard string // host:port
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	// A short path: unix socket addresses hold ~100 bytes.
	dir, err := os.MkdirTemp("", "gb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.MkdirAll(filepath.Join(dir, "home"), 0o700); err != nil {
		t.Fatal(err)
	}
	const head = "127.0.0.1"
	gcsPort, dashPort := testproc.Port(t, head), testproc.Port(t, head)
	c := &cluster{gcs: net.JoinHostPort(head, strconv.Itoa(gcsPort)), dashboard: net.JoinHostPort(head, strconv.Itoa(dashPort))}
	// One agent port on every node, as KubeRay's pods have: the head
	// reaches each node's agent there for the log API.
	agent := commonFreePort(t, head, "127.0.0.2", "127.0.0.3")
	ports := func(ip string) []string {
		return []string{"--dashboard-agent-listen-port=" + strconv.Itoa(agent), "--metrics-export-port=" + strconv.Itoa(testproc.Port(t, ip)),
			"--serve-port=" + strconv.Itoa(testproc.Port(t, ip)), "--temp-dir=" + filepath.Join(dir, ip)}
	}
	h := start(t, dir, "head", append([]string{"start", "--head", "--block", "--node-ip-address=" + head, "--port=" + strconv.Itoa(gcsPort),
		"--num-cpus=1", "--dashboard-host=" + head, "--dashboard-port=" + strconv.Itoa(dashPort)}, ports(head)...)...)
	waitHealthy(t, h, "http://"+c.dashboard+"/api/gcs_healthz")
	for _, ip := range []string{"127.0.0.2", "127.0.0.3"} {
		start(t, dir, "node-"+ip, append([]string{"start", "--block", "--address=" + c.gcs, "--node-ip-address=" + ip, "--num-cpus=2"}, ports(ip)...)...)
	}
	return c
}

// waitHealthy polls an open health endpoint until it answers 200.
func waitHealthy(t *testing.T, p *proc, url string) {
	t.Helper()
	hc := &http.Client{Timeout: 2 * time.Second}
	end := time.Now().Add(90 * time.Second)
	for time.Now().Before(end) {
		if resp, err := hc.Get(url); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("the head exited:\n%s", p.output())
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatalf("%s never answered 200:\n%s", url, p.output())
}
