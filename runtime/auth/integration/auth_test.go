package integration

import (
	"context"
	"crypto/rand"
	"crypto/tls"
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

	"google.golang.org/grpc/codes"

	"github.com/goray-dev/goray/internal/testproc"
	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
	serveclient "github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

var binDir string

const deadline = 90 * time.Second

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	flag.Parse()
	if testing.Short() {
		return m.Run()
	}
	d, err := os.MkdirTemp("", "goray-auth-test-")
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

// proc is a goray process a test started; it is stopped by pid.
type proc struct {
	cmd    *exec.Cmd
	exited chan struct{}
	out    string
}

func start(t *testing.T, env []string, logPath string, args ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(binDir, "goray"), args...)
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
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// cluster is a head and a worker node on their own loopback addresses.
type cluster struct {
	dir                      string
	head, worker             *proc
	headIP, workerIP         string
	gcs                      string
	dashboard, agent, metric int
	serve, workerServe       int
	grpc, workerGRPC         int // the serve gRPC proxies
	workerAgent              int
	env                      []string // the nodes' environment (with the token)
	home                     string
	scheme                   string       // of the dashboard and agents: https with TLS
	httpc                    *http.Client // trusts the cluster's CA with TLS
}

// startCluster starts a head on headIP and, unless workerIP is "", a worker
// node on workerIP, both with env.
func startCluster(t *testing.T, headIP, workerIP string, env []string, tc *tls.Config) *cluster {
	t.Helper()
	// A short path: unix socket addresses hold ~100 bytes, and nodes serve
	// on unix sockets only where the path fits.
	dir, err := os.MkdirTemp("", "ga")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &cluster{dir: dir, headIP: headIP, workerIP: workerIP, env: env, home: filepath.Join(dir, "home"), scheme: "http",
		httpc: &http.Client{Timeout: 2 * time.Second}}
	if tc != nil {
		c.scheme = "https"
		c.httpc.Transport = &http.Transport{TLSClientConfig: tc}
	}
	if err := os.MkdirAll(c.home, 0o700); err != nil {
		t.Fatal(err)
	}
	gcsPort := testproc.Port(t, headIP)
	c.dashboard, c.agent, c.metric, c.serve = testproc.Port(t, headIP), testproc.Port(t, headIP), testproc.Port(t, headIP), testproc.Port(t, headIP)
	c.grpc = testproc.Port(t, headIP)
	c.head = start(t, env, filepath.Join(dir, "head.log"), "start", "--head", "--block", "--node-ip-address="+headIP,
		"--port="+strconv.Itoa(gcsPort), "--num-cpus=1", "--dashboard-host="+headIP, "--dashboard-port="+strconv.Itoa(c.dashboard),
		"--dashboard-agent-listen-port="+strconv.Itoa(c.agent), "--metrics-export-port="+strconv.Itoa(c.metric),
		"--serve-port="+strconv.Itoa(c.serve), "--serve-grpc-port="+strconv.Itoa(c.grpc), "--temp-dir="+filepath.Join(dir, "head"))
	c.gcs = net.JoinHostPort(headIP, strconv.Itoa(gcsPort))
	waitHTTP(t, c.httpc, c.head, c.scheme+"://"+net.JoinHostPort(headIP, strconv.Itoa(c.dashboard))+"/api/gcs_healthz")
	if workerIP == "" {
		return c
	}
	c.workerAgent, c.workerServe, c.workerGRPC = testproc.Port(t, workerIP), testproc.Port(t, workerIP), testproc.Port(t, workerIP)
	c.worker = start(t, env, filepath.Join(dir, "worker.log"), "start", "--block", "--address="+c.gcs, "--node-ip-address="+workerIP,
		"--num-cpus=2", "--dashboard-agent-listen-port="+strconv.Itoa(c.workerAgent), "--metrics-export-port="+strconv.Itoa(testproc.Port(t, workerIP)),
		"--serve-port="+strconv.Itoa(c.workerServe), "--serve-grpc-port="+strconv.Itoa(c.workerGRPC), "--temp-dir="+filepath.Join(dir, "worker"))
	waitHTTP(t, c.httpc, c.worker, c.scheme+"://"+net.JoinHostPort(workerIP, strconv.Itoa(c.workerAgent))+"/api/local_raylet_healthz")
	return c
}

// waitHTTP polls an open health endpoint until it answers 200.
func waitHTTP(t *testing.T, hc *http.Client, p *proc, url string) {
	t.Helper()
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

// goray runs the CLI with env and returns its output and error.
func goray(env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "goray"), args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestTokenAuthEveryPort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no runtime processes")
	}
	testEveryPort(t, "127.0.0.151", "127.0.0.152", false)
}

// TestTLSEveryPort is TestTokenAuthEveryPort with mutual TLS: every
// listener but the serve ingress speaks TLS, and a client that does not
// trust the cluster's CA gets nothing from any of them.
func TestTLSEveryPort(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no runtime processes")
	}
	testEveryPort(t, "127.0.0.156", "127.0.0.157", true)
}

func testEveryPort(t *testing.T, headIP, workerIP string, useTLS bool) {
	token := randomToken(t)
	home := t.TempDir()
	var tlsEnv []string
	var sec auth.Config
	if useTLS {
		ca, err := auth.NewCA("goray test CA", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		cert, key, err := ca.Issue("goray", nil, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := t.TempDir()
		tlsEnv = []string{"RAY_USE_TLS=1", "RAY_TLS_SERVER_CERT=" + writeFile(t, d, "cert.pem", string(cert)),
			"RAY_TLS_SERVER_KEY=" + writeFile(t, d, "key.pem", string(key)), "RAY_TLS_CA_CERT=" + writeFile(t, d, "ca.pem", string(ca.CertPEM()))}
	}
	envOf := func(extra ...string) []string {
		return baseEnv(home, append(append([]string{}, tlsEnv...), extra...)...)
	}
	sec, err := auth.FromLookup(func(k string) string {
		for _, kv := range envOf("RAY_AUTH_TOKEN=" + token) {
			if key, v, _ := strings.Cut(kv, "="); key == k {
				return v
			}
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	with, without := client{sec: sec}, client{}
	var tc *tls.Config
	if sec.TLS != nil {
		tc = sec.TLS.ClientConfig()
		with.tls, without.tls = tc, tc // without: the cluster's certificate, no token
	}
	c := startCluster(t, headIP, workerIP, envOf("RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token), tc)
	dash := c.scheme + "://" + net.JoinHostPort(c.headIP, strconv.Itoa(c.dashboard))

	// A job (a Go driver that leases workers on both nodes) and a serve
	// application with a replica on each node, so that workers, replicas
	// and the driver's listeners exist when the ports are read.
	jc := &jobclient.Client{BaseURL: dash, HTTP: &http.Client{Transport: with.sec.Transport(nil), Timeout: deadline}}
	ctx := context.Background()
	id, err := jc.Submit(ctx, api.SubmitRequest{Entrypoint: "env | grep RAY_AUTH | sed 's/=.*//' | sort; goray-examples square"})
	if err != nil {
		t.Fatal(err)
	}
	d := waitJob(t, jc, id)
	logs, _ := jc.Logs(ctx, id)
	if d.Status != api.StatusSucceeded || !strings.Contains(logs, "[0 1 4 9]") {
		t.Fatalf("job %s: %s %q\n%s", id, d.Status, d.MessageText(), logs)
	}
	// The entrypoint finds the token by the runtime's path, not in its environment.
	if !strings.Contains(logs, "RAY_AUTH_TOKEN_PATH\n") || strings.Contains(logs, "RAY_AUTH_TOKEN\n") {
		t.Fatalf("the entrypoint's RAY_AUTH variables:\n%s", logs)
	}
	cfg := `{"applications":[{"name":"hello","route_prefix":"/hello","import_path":"hello",
	  "deployments":[{"name":"Hello","num_replicas":2,"max_replicas_per_node":1},{"name":"Echo","num_replicas":2,"max_replicas_per_node":1}]}]}`
	if out, err := goray(envOf("RAY_AUTH_TOKEN="+token), "serve", "deploy", "--address", dash, writeFile(t, t.TempDir(), "serve.json", cfg)); err != nil {
		t.Fatalf("goray serve deploy: %v\n%s", err, out)
	}
	// Every replica running (a replica listens once its constructor ran),
	// one of each deployment per node.
	sc := serveclient.NewWithTransport(dash, with.sec.Transport(c.httpc.Transport))
	end := time.Now().Add(deadline)
	for running := 0; running < 4; {
		if time.Now().After(end) {
			t.Fatalf("%d of 4 replicas running", running)
		}
		time.Sleep(200 * time.Millisecond)
		d, err := sc.Get(ctx)
		if err != nil {
			t.Fatal(err)
		}
		running = 0
		if app := d.Applications["hello"]; app != nil {
			for _, dep := range app.Deployments {
				for _, r := range dep.Replicas {
					if r.State == "RUNNING" {
						running++
					}
				}
			}
		}
	}
	for _, port := range []int{c.serve, c.workerServe} {
		ip := c.headIP
		if port == c.workerServe {
			ip = c.workerIP
		}
		waitIngress(t, "http://"+net.JoinHostPort(ip, strconv.Itoa(port))+"/hello")
	}

	// Every listener of both nodes and their children.
	var pids []int
	for _, p := range []*proc{c.head, c.worker} {
		pids = append(pids, p.cmd.Process.Pid)
		pids = append(pids, testproc.Descendants(p.cmd.Process.Pid)...)
	}
	ls := listeners(t, pids)
	seen := map[kind]int{}
	ingress := map[string]bool{net.JoinHostPort(c.headIP, strconv.Itoa(c.serve)): true, net.JoinHostPort(c.workerIP, strconv.Itoa(c.workerServe)): true}
	grpcIngress := map[string]bool{net.JoinHostPort(c.headIP, strconv.Itoa(c.grpc)): true, net.JoinHostPort(c.workerIP, strconv.Itoa(c.workerGRPC)): true}
	health := map[string]string{net.JoinHostPort(c.headIP, strconv.Itoa(c.dashboard)): "/api/gcs_healthz",
		net.JoinHostPort(c.headIP, strconv.Itoa(c.agent)):         "/api/local_raylet_healthz",
		net.JoinHostPort(c.workerIP, strconv.Itoa(c.workerAgent)): "/api/local_raylet_healthz"}
	for _, l := range ls {
		host, _, _ := net.SplitHostPort(l.addr)
		if host != c.headIP && host != c.workerIP {
			t.Errorf("%s listens beyond its node's address (%s / %s)", l.addr, c.headIP, c.workerIP)
		}
		if ingress[l.addr] { // plain HTTP: the application's own port
			seen[probe(t, l.addr, client{sec: sec}, client{}, true, "")]++
			continue
		}
		if grpcIngress[l.addr] {
			seen[probeGRPCIngress(t, l.addr, with, without)]++
		} else {
			seen[probe(t, l.addr, with, without, false, health[l.addr])]++
		}
		if useTLS { // a client that does not trust the CA (and has no certificate) gets nowhere
			stranger := client{sec: sec, tls: &tls.Config{MinVersion: tls.VersionTLS12}}
			if _, _, ok := stranger.httpGet(l.addr, "/"); ok {
				t.Errorf("%s: answered HTTPS to a client without the cluster's CA", l.addr)
			}
			if cs := stranger.grpcCodes(l.addr); slicesHas(cs, codes.OK) || slicesHas(cs, codes.Unauthenticated) {
				t.Errorf("%s: gRPC reached the server for a client without the CA: %v", l.addr, cs)
			}
			if _, hop := stranger.hopGet(l.addr); hop {
				t.Errorf("%s: a replica took a connection from a client without the CA", l.addr)
			}
			// Go's HTTPS server answers plain text with a 400 naming the mistake.
			if code, _, ok := (client{}).httpGet(l.addr, "/"); ok && code != http.StatusBadRequest {
				t.Errorf("%s: answers plain HTTP under TLS: %d", l.addr, code)
			}
		}
	}
	socks := unixListeners(t, c.dir)
	for _, path := range socks {
		if c, err := net.Dial("unix", path); err != nil {
			// A worker's node removes its sockets when it exits: a file that
			// nothing listens on is a worker exiting right now, or a leak.
			if _, serr := os.Stat(path); serr == nil {
				time.Sleep(time.Second)
				if _, serr := os.Stat(path); serr == nil {
					t.Errorf("%s: a socket file nothing listens on (%v)", path, err)
				}
			}
			continue
		} else {
			_ = c.Close()
		}
		k := probe(t, "unix:"+path, with, without, false, "")
		if k == kindHTTP {
			t.Errorf("%s: an HTTP server on a unix socket", path)
		}
		seen["unix "+k]++
	}
	t.Logf("TCP listeners: %d, unix sockets: %d (%v)", len(ls), len(socks), seen)
	// GCS, 2 node managers, driver-less workers and replicas: several gRPC
	// servers; dashboard, 2 agents, 2 metrics, 2 ingresses; a replica per node.
	if seen[kindGRPC] < 5 || seen[kindHTTP] < 7 || seen[kindHop] < 2 || seen[kindGRPCIngress] != 2 || seen["unix "+kindGRPC] < 2 || seen["unix "+kindHop] < 2 {
		t.Fatalf("too few listeners found to believe the census: %v", seen)
	}

	// The CLI: works with RAY_AUTH_TOKEN, fails saying how without it.
	if out, err := goray(envOf("RAY_AUTH_TOKEN="+token), "status", "--address", c.gcs); err != nil || !strings.Contains(out, "Node status") {
		t.Fatalf("goray status with the token: %v\n%s", err, out)
	}
	if out, err := goray(envOf("RAY_AUTH_TOKEN="+token), "job", "list", "--address", dash); err != nil || !strings.Contains(out, id) {
		t.Fatalf("goray job list with the token: %v\n%s", err, out)
	}
	for _, args := range [][]string{{"status", "--address", c.gcs}, {"job", "list", "--address", dash}, {"serve", "status", "--address", dash}} {
		out, err := goray(envOf(), args...)
		if err == nil || !strings.Contains(out, "RAY_AUTH_TOKEN") {
			t.Errorf("goray %s without the token: %v\n%s", strings.Join(args, " "), err, out)
		}
		out, err = goray(envOf("RAY_AUTH_TOKEN=wrong"), args...)
		if err == nil || !strings.Contains(out, "does not match") {
			t.Errorf("goray %s with a wrong token: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// A node without the token, or with a wrong one, cannot join: it exits
	// at once with a message, instead of retrying.
	for name, env := range map[string][]string{"none": envOf(), "wrong": envOf("RAY_AUTH_TOKEN=wrong")} {
		ip := workerIP[:strings.LastIndexByte(workerIP, '.')] + ".158"
		p := start(t, env, filepath.Join(c.dir, "intruder-"+name+".log"), "start", "--block", "--address="+c.gcs, "--node-ip-address="+ip,
			"--num-cpus=1", "--dashboard-agent-listen-port=0", "--metrics-export-port=0", "--serve-port=0", "--serve-grpc-port=0",
			"--temp-dir="+filepath.Join(c.dir, "intruder-"+name))
		select {
		case <-p.exited:
		case <-time.After(deadline):
			t.Fatalf("a node with token %s kept running:\n%s", name, p.log())
		}
		if lg := p.log(); !strings.Contains(lg, "Unauthenticated") {
			t.Errorf("node with token %s: no clear refusal:\n%s", name, lg)
		}
	}
	out, err := goray(envOf("RAY_AUTH_TOKEN="+token), "status", "--address", c.gcs)
	if err != nil || strings.Contains(out, ".158") {
		t.Fatalf("the refused nodes show in the cluster: %v\n%s", err, out)
	}
}

// probe finds what a listener speaks and checks it refuses calls without
// the token and takes them with it.
func probe(t *testing.T, addr string, with, without client, isIngress bool, healthPath string) kind {
	t.Helper()
	// An API path, not "/": the dashboard gives anyone its page's shell at /.
	const apiPath = "/api/version"
	if code, body, ok := without.httpGet(addr, apiPath); ok {
		switch {
		case isIngress: // the application's own port, as in Ray: its routes answer anyone
			if code, _, _ := without.httpGet(addr, "/hello"); code != 200 {
				t.Errorf("%s: serve ingress /hello answered %d", addr, code)
			}
		case code != http.StatusUnauthorized || !strings.Contains(body, "RAY_AUTH_TOKEN"):
			t.Errorf("%s: GET %s without the token: %d %q, want 401 saying how", addr, apiPath, code, body)
		default:
			// The serve traffic split (RayService incremental upgrades) is
			// behind the same token.
			if code, body, _ := without.httpGet(addr, schema.TrafficSplitPath); code != http.StatusUnauthorized {
				t.Errorf("%s: GET %s without the token: %d %q, want 401", addr, schema.TrafficSplitPath, code, body)
			}
			if code, _, _ := with.httpGet(addr, apiPath); code == http.StatusUnauthorized {
				t.Errorf("%s: GET %s with the token: 401", addr, apiPath)
			}
			if healthPath != "" {
				if code, body, _ := without.httpGet(addr, healthPath); code != 200 {
					t.Errorf("%s: health %s without the token: %d %q", addr, healthPath, code, body)
				}
			}
		}
		return kindHTTP
	}
	if cs := without.grpcCodes(addr); slicesHas(cs, codes.Unauthenticated) {
		if slicesHas(cs, codes.OK) {
			t.Errorf("%s: a gRPC call without the token went through: %v", addr, cs)
		}
		if cs := with.grpcCodes(addr); !slicesHas(cs, codes.OK) || slicesHas(cs, codes.Unauthenticated) {
			t.Errorf("%s: gRPC with the token: %v", addr, cs)
		}
		return kindGRPC
	}
	if answered, hop := without.hopGet(addr); hop {
		if answered {
			t.Errorf("%s: a serve replica answered without the token", addr)
		}
		if answered, _ := with.hopGet(addr); !answered {
			t.Errorf("%s: a serve replica did not answer with the token", addr)
		}
		return kindHop
	}
	t.Errorf("%s: speaks nothing the census knows (not HTTP, not a runtime gRPC service refusing the call, not a serve replica)", addr)
	return ""
}

// probeGRPCIngress checks a serve gRPC proxy: its Healthz answers anyone,
// as health probes do; ListApplications and the applications' calls need
// the token.
func probeGRPCIngress(t *testing.T, addr string, with, without client) kind {
	t.Helper()
	h, l, c := without.grpcIngressCodes(addr)
	if h != codes.OK || l != codes.Unauthenticated || c != codes.Unauthenticated {
		t.Errorf("%s: serve gRPC proxy without the token: Healthz %v, ListApplications %v, a call %v; want OK, Unauthenticated, Unauthenticated", addr, h, l, c)
	}
	// With it the call reaches the only application, whose deployment
	// serves no gRPC.
	h, l, c = with.grpcIngressCodes(addr)
	if h != codes.OK || l != codes.OK || c != codes.Unimplemented {
		t.Errorf("%s: serve gRPC proxy with the token: Healthz %v, ListApplications %v, a call %v; want OK, OK, Unimplemented", addr, h, l, c)
	}
	return kindGRPCIngress
}

func slicesHas(cs []codes.Code, c codes.Code) bool {
	for _, x := range cs {
		if x == c {
			return true
		}
	}
	return false
}

func waitJob(t *testing.T, c *jobclient.Client, id string) *api.JobDetails {
	t.Helper()
	end := time.Now().Add(deadline)
	for time.Now().Before(end) {
		d, err := c.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if d.Status.IsTerminal() {
			return d
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("job %s did not end", id)
	return nil
}

func waitIngress(t *testing.T, url string) {
	t.Helper()
	end := time.Now().Add(deadline)
	var last string
	for time.Now().Before(end) {
		resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(url)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s never answered 200 (last: %s)", url, last)
}
