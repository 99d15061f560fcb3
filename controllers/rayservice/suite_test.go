package rayservice_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
	"github.com/goray-dev/goray/internal/testproc"
)

const ns = "serve"

var (
	k8s    client.Client
	binDir string
	heads  = &headPool{byCluster: map[string]*head{}}
)

// head is a real `goray start --head` process standing in for a cluster's
// head pod, on a loopback address of its own.
type head struct {
	ip  string
	cmd *exec.Cmd
}

type headPool struct {
	mu        sync.Mutex
	next      int
	byCluster map[string]*head
}

func (p *headPool) address(cluster string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if h := p.byCluster[cluster]; h != nil {
		return h.ip + ":8265"
	}
	return "127.0.0.1:1" // not started yet: nothing answers
}

// start runs the head of a cluster with the cluster's token (its generated
// Secret's; "" runs it without auth), as its pod would, with the pod's
// serve arguments (servePodArgs).
func (p *headPool) start(cluster, token string, serveArgs ...string) (*head, error) {
	p.mu.Lock()
	if h := p.byCluster[cluster]; h != nil {
		p.mu.Unlock()
		return h, nil
	}
	p.next++
	ip := fmt.Sprintf("127.0.0.%d", 140+p.next)
	p.mu.Unlock()
	args := append([]string{"start", "--head", "--block", "--node-ip-address=" + ip, "--dashboard-host=" + ip, "--num-cpus=4",
		"--metrics-export-port=0", "--temp-dir=" + filepath.Join(binDir, "tmp-"+ip)}, serveArgs...)
	cmd := exec.Command(filepath.Join(binDir, "goray"), args...)
	cmd.Env = append(os.Environ(), "GORAY_SERVE_BINARY="+filepath.Join(binDir, "goray-examples"))
	if token != "" {
		cmd.Env = append(cmd.Env, "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token)
	}
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + ip + ":8265/api/gcs_healthz"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				h := &head{ip: ip, cmd: cmd}
				p.mu.Lock()
				p.byCluster[cluster] = h
				p.mu.Unlock()
				return h, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("head for %s did not become healthy", cluster)
}

// stopGone kills the heads of clusters that no longer exist.
func (p *headPool) stopGone(existing map[string]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for name, h := range p.byCluster {
		if !existing[name] {
			_ = h.cmd.Process.Kill()
			_ = h.cmd.Wait()
			delete(p.byCluster, name)
		}
	}
}

func (p *headPool) stopAll() { p.stopGone(nil) }

func TestMain(m *testing.M) { testenv.Main(m, run) }

func run(m *testing.M) (int, error) {
	var err error
	if binDir, err = os.MkdirTemp("", "rayservice-test-"); err != nil {
		return 0, err
	}
	defer os.RemoveAll(binDir)
	build := testproc.GoBuild(binDir+"/", "./cmd/goray", "./cmd/goray-examples")
	build.Dir = testenv.RepoRoot()
	testproc.CollectRaces(binDir)
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building: %w\n%s", err, out)
	}
	defer heads.stopAll()
	env, err := testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, err
	}
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr, o.WatchNamespaces = "0", "0", []string{ns}
	o.DashboardAddress = func(c *rayv1.RayCluster) string { return heads.address(c.Name) }
	mgr, err := operator.NewManager(env.Config, o)
	if err != nil {
		return 0, err
	}
	go func() { _ = mgr.Start(ctx) }()
	go playKubelet(ctx)
	return testproc.RunCheckingRaces(m, binDir), nil
}

// playKubelet starts a head process for every head pod and reports the pod
// Running and Ready at that address; heads of deleted clusters are stopped.
func playKubelet(ctx context.Context) {
	for ctx.Err() == nil {
		clusters := &rayv1.RayClusterList{}
		if err := k8s.List(ctx, clusters, client.InNamespace(ns)); err == nil {
			existing := map[string]bool{}
			for _, c := range clusters.Items {
				if c.DeletionTimestamp.IsZero() {
					existing[c.Name] = true
				}
			}
			heads.stopGone(existing)
		}
		pods := &corev1.PodList{}
		if err := k8s.List(ctx, pods, client.InNamespace(ns)); err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				if p.Status.Phase == corev1.PodRunning || !p.DeletionTimestamp.IsZero() || p.Labels[rayv1.RayNodeTypeLabelKey] != "head" {
					continue
				}
				// Token auth is on by default: the head checks the token of
				// the Secret the operator generated, so the operator's serve
				// client must send it.
				name := p.Labels[rayv1.RayClusterLabelKey]
				secret := &corev1.Secret{}
				if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, secret); err != nil || len(secret.Data["auth_token"]) == 0 {
					continue
				}
				h, err := heads.start(name, string(secret.Data["auth_token"]), servePodArgs(p)...)
				if err != nil {
					continue
				}
				_ = testenv.MarkPodReady(ctx, k8s, p, h.ip)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// servePodArgs are the serve flags (--serve-port, --serve-grpc-port) the
// operator gave the pod's goray start.
func servePodArgs(p *corev1.Pod) []string {
	var out []string
	for _, a := range p.Spec.Containers[0].Command {
		if strings.HasPrefix(a, "--serve-port=") || strings.HasPrefix(a, "--serve-grpc-port=") {
			out = append(out, a)
		}
	}
	return out
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	testenv.Eventually(t, 120*time.Second, what, cond)
}
