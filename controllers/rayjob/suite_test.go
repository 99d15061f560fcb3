package rayjob_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
	"github.com/goray-dev/goray/internal/testproc"
)

// The head process stands in for every cluster's head pod: the RayJob
// controller reaches it through the injected dashboard address. The auth
// head (token auth on, authHeadToken) stands in for the clusters of the
// RayJobs named auth-*.
const (
	headIP        = "127.0.0.77"
	authHeadIP    = "127.0.0.78"
	authHeadToken = "rayjob-test-token-0123456789"
)

var (
	env          *testenv.Env
	k8s          client.Client
	clk          = clocktesting.NewFakeClock(time.Now())
	binDir       string
	headAddr     string // host:port of the head's dashboard
	authHeadAddr string // host:port of the auth head's dashboard
)

var namespaces = []string{"modes", "lifecycle", "auth"}

func TestMain(m *testing.M) { testenv.Main(m, run) }

func run(m *testing.M) (int, error) {
	var err error
	binDir, err = os.MkdirTemp("", "rayjob-test-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(binDir)
	build := testproc.GoBuild(binDir+"/", "./cmd/goray")
	build.Dir = testenv.RepoRoot()
	testproc.CollectRaces(binDir)
	if out, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("building goray: %w\n%s", err, out)
	}
	head, err := startHead(headIP, "")
	if err != nil {
		return 0, err
	}
	defer func() { _ = head.Process.Kill(); _ = head.Wait() }()
	authHead, err := startHead(authHeadIP, authHeadToken)
	if err != nil {
		return 0, err
	}
	defer func() { _ = authHead.Process.Kill(); _ = authHead.Wait() }()

	env, err = testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range namespaces {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return 0, err
		}
	}
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.WatchNamespaces = namespaces
	o.Clock = clk
	o.DashboardAddress = func(c *rayv1.RayCluster) string {
		if strings.HasPrefix(c.Labels[rayv1.RayOriginatedFromCRNameKey], "auth-") {
			return authHeadAddr
		}
		return headAddr
	}
	mgr, err := operator.NewManager(env.Config, o)
	if err != nil {
		return 0, err
	}
	go func() { _ = mgr.Start(ctx) }()
	go playKubelet(ctx)
	return testproc.RunCheckingRaces(m, binDir), nil
}

// startHead runs `goray start --head` on a loopback address of its own,
// with token auth when token is set.
func startHead(ip, token string) (*exec.Cmd, error) {
	addr := ip + ":8265"
	if token == "" {
		headAddr = addr
	} else {
		authHeadAddr = addr
	}
	cmd := exec.Command(filepath.Join(binDir, "goray"), "start", "--head", "--block",
		"--node-ip-address="+ip, "--dashboard-host="+ip, "--num-cpus=4", "--temp-dir="+filepath.Join(binDir, "tmp-"+ip))
	cmd.Env = append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH"))
	if token != "" {
		cmd.Env = append(cmd.Env, "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/api/gcs_healthz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return cmd, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Kill()
	return nil, fmt.Errorf("the head did not become healthy at %s", addr)
}

// playKubelet marks every pod Running and Ready, as a kubelet would once
// the runtime started.
func playKubelet(ctx context.Context) {
	for ctx.Err() == nil {
		for _, ns := range namespaces {
			list := &corev1.PodList{}
			if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
				continue
			}
			for i := range list.Items {
				p := &list.Items[i]
				if p.Status.Phase == corev1.PodRunning || !p.DeletionTimestamp.IsZero() || p.Status.Phase == corev1.PodPending && len(p.Status.ContainerStatuses) > 0 {
					continue
				}
				if strings.HasPrefix(p.Labels[rayv1.RayClusterLabelKey], "stuck") {
					continue // clusters named stuck-* never become ready
				}
				_ = testenv.MarkPodReady(ctx, k8s, p, headIP)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	testenv.Eventually(t, 120*time.Second, what, cond)
}

func newJob(ns, name, entrypoint string, mode rayv1.JobSubmissionMode) *rayv1.RayJob {
	container := func(n string) corev1.Container { return corev1.Container{Name: n, Image: "goray/goray:dev"} }
	return &rayv1.RayJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rayv1.RayJobSpec{
			Entrypoint:     entrypoint,
			SubmissionMode: mode,
			RayClusterSpec: &rayv1.RayClusterSpec{
				HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container("ray-head")}}}},
				WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{GroupName: "w", Replicas: ptr.To[int32](1), MinReplicas: ptr.To[int32](0), MaxReplicas: ptr.To[int32](2),
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container("ray-worker")}}}}},
			},
		},
	}
}

func getJob(ctx context.Context, ns, name string) (*rayv1.RayJob, error) {
	j := &rayv1.RayJob{}
	return j, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, j)
}

// waitForDeployment waits until the RayJob reaches one of the states.
func waitForDeployment(t *testing.T, ctx context.Context, ns, name string, states ...rayv1.JobDeploymentStatus) *rayv1.RayJob {
	t.Helper()
	var job *rayv1.RayJob
	eventually(t, fmt.Sprintf("%s/%s to reach %v", ns, name, states), func() (bool, error) {
		var err error
		job, err = getJob(ctx, ns, name)
		return err == nil && slices.Contains(states, job.Status.JobDeploymentStatus), err
	})
	return job
}

// poke makes the controller reconcile a RayJob now (after the fake clock moved).
func poke(ctx context.Context, ns, name string) error {
	j, err := getJob(ctx, ns, name)
	if err != nil {
		return err
	}
	before := j.DeepCopy()
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
	return k8s.Patch(ctx, j, client.MergeFrom(before))
}
