// Package integration runs the autoscaler against a real kube-apiserver
// (envtest) with the goray operator's manager, a real `goray start --head`
// process and worker node processes this test starts for the pods the
// operator creates (the test plays kubelet). This test binary is also the
// driver and, exec'd by the node managers, the worker processes.
package integration

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/autoscaler"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
	"github.com/goray-dev/goray/internal/testproc"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

var sleepy = ray.Task("autoscaler-it.sleep", func(ctx context.Context, ms int) (string, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ray.NodeID(), nil
})

var (
	bin, tmp string
	env      *testenv.Env
)

func TestMain(m *testing.M) {
	if ray.IsWorker() {
		_ = ray.Init(context.Background())
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	tmp, err = os.MkdirTemp("", "goray-autoscaler-it-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	bin = filepath.Join(tmp, "goray")
	testproc.CollectRaces(tmp)
	if out, err := testproc.GoBuild(bin, "../../../cmd/goray").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build goray: %v\n%s", err, out)
		return 1
	}
	ctrllog.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	return testproc.RunCheckingRaces(m, tmp)
}

// kubelet starts a node process for every worker pod of the namespace, marks
// pods Running and Ready, and stops (SIGTERM) the process of a deleted pod.
type kubelet struct {
	t       *testing.T
	ns, gcs string
	mu      sync.Mutex
	procs   map[string]*exec.Cmd // pod name -> node process
	nextIP  int
}

// recorder watches every version of the RayCluster and every pod deletion.
type recorder struct {
	mu      sync.Mutex
	named   map[string]bool // every pod ever listed in workersToDelete
	deleted []string        // worker pods deleted
	maxRepl int32
	upAt    time.Time // when the watch first saw replicas above 1
}

func (r *recorder) watch(ctx context.Context, t *testing.T, kube client.WithWatch, ns string) {
	wrc, err := kube.Watch(ctx, &rayv1.RayClusterList{}, client.InNamespace(ns))
	if err != nil {
		t.Error(err)
		return
	}
	wp, err := kube.Watch(ctx, &corev1.PodList{}, client.InNamespace(ns))
	if err != nil {
		t.Error(err)
		return
	}
	go func() {
		for ev := range wrc.ResultChan() {
			if rc, ok := ev.Object.(*rayv1.RayCluster); ok && len(rc.Spec.WorkerGroupSpecs) > 0 {
				r.mu.Lock()
				for _, n := range rc.Spec.WorkerGroupSpecs[0].ScaleStrategy.WorkersToDelete {
					r.named[n] = true
				}
				r.maxRepl = max(r.maxRepl, *rc.Spec.WorkerGroupSpecs[0].Replicas)
				if r.maxRepl > 1 && r.upAt.IsZero() {
					r.upAt = time.Now()
				}
				r.mu.Unlock()
			}
		}
	}()
	go func() {
		for ev := range wp.ResultChan() {
			if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type == "DELETED" && p.Labels[rayv1.RayNodeTypeLabelKey] == "worker" {
				r.mu.Lock()
				r.deleted = append(r.deleted, p.Name)
				r.mu.Unlock()
			}
		}
	}()
	go func() { <-ctx.Done(); wrc.Stop(); wp.Stop() }()
}

func (k *kubelet) loop(ctx context.Context) {
	for ctx.Err() == nil {
		k.sync(ctx)
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (k *kubelet) sync(ctx context.Context) {
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(k.ns)); err != nil {
		return
	}
	exists := map[string]bool{}
	for i := range pods.Items {
		p := &pods.Items[i]
		exists[p.Name] = true
		if p.DeletionTimestamp != nil {
			continue
		}
		worker := p.Labels[rayv1.RayNodeTypeLabelKey] == string(rayv1.WorkerNode)
		k.mu.Lock()
		_, started := k.procs[p.Name]
		k.mu.Unlock()
		if worker && !started {
			k.start(p)
		}
		if p.Status.Phase != corev1.PodRunning {
			now := metav1.Now()
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP = "127.0.0.1"
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
			p.Status.ContainerStatuses = nil
			for _, c := range p.Spec.Containers {
				p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Ready: true, Image: c.Image,
					State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}}})
			}
			_ = env.Client.Status().Update(ctx, p)
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for name, cmd := range k.procs {
		if !exists[name] {
			cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			delete(k.procs, name)
		}
	}
}

func (k *kubelet) start(p *corev1.Pod) {
	k.mu.Lock()
	k.nextIP++
	ip := fmt.Sprintf("127.0.0.%d", k.nextIP)
	k.mu.Unlock()
	args := []string{"start", "--block", "--address=" + k.gcs, "--node-ip-address=" + ip, "--num-cpus=1",
		"--metrics-export-port=0", "--dashboard-agent-listen-port=" + strconv.Itoa(testproc.Port(k.t, "127.0.0.1"))}
	if l := podFlag(p, "labels"); l != "" {
		args = append(args, "--labels="+l) // the operator's, from the group's labels
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GORAY_TMPDIR="+tmp, "GORAY_HEALTH_TIMEOUT=2s",
		"RAY_CLOUD_INSTANCE_ID="+p.Name, "RAY_NODE_TYPE_NAME="+p.Labels[rayv1.RayNodeGroupLabelKey])
	logf, _ := os.Create(filepath.Join(tmp, "node-"+p.Name+".log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	testproc.DieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		k.t.Errorf("start node for %s: %v", p.Name, err)
		return
	}
	k.mu.Lock()
	k.procs[p.Name] = cmd
	k.mu.Unlock()
}

// podFlag is the value of --flag in the pod's goray start command.
func podFlag(p *corev1.Pod, flag string) string {
	for _, c := range p.Spec.Containers {
		for _, a := range append(slices.Clone(c.Command), c.Args...) {
			if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
				return v
			}
		}
	}
	return ""
}

func (k *kubelet) stopAll() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, cmd := range k.procs {
		cmd.Process.Kill()
		_ = cmd.Wait()
	}
}

// startOperator starts the operator once for the package's tests (its
// controllers' names are the process's): it watches every namespace and
// runs until the test binary exits.
var startOperator = func() func(t *testing.T) {
	var once sync.Once
	var err error
	return func(t *testing.T) {
		once.Do(func() {
			opts := operator.DefaultOptions()
			opts.MetricsAddr, opts.ProbeAddr = "0", "0"
			var mgr manager.Manager
			if mgr, err = operator.NewManager(env.Config, opts); err == nil {
				go func() { _ = mgr.Start(context.Background()) }()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}()

// world is a RayCluster under the operator and the autoscaler in a
// namespace of its own: a real head process on 127.0.0.1, the fake kubelet
// starting a real node for every worker pod, a recorder of the cluster's
// versions and pod deletions. Everything stops with the test.
type world struct {
	ns, gcs   string
	gcsClient rpcpb.GcsClient
	rec       *recorder
}

func startWorld(ctx context.Context, t *testing.T, rc func(ns string) *rayv1.RayCluster) *world {
	t.Helper()
	ns, err := env.Namespace(ctx, "autoscaler")
	if err != nil {
		t.Fatal(err)
	}
	logs := filepath.Join(tmp, ns)
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}

	// The head pod's runtime: a real head process on 127.0.0.1.
	gcsPort := testproc.Port(t, "127.0.0.1")
	gcs := "127.0.0.1:" + strconv.Itoa(gcsPort)
	head := exec.Command(bin, "start", "--head", "--block", "--port="+strconv.Itoa(gcsPort), "--num-cpus=0", "--node-ip-address=127.0.0.1",
		"--dashboard-port="+strconv.Itoa(testproc.Port(t, "127.0.0.1")), "--metrics-export-port=0", "--dashboard-agent-listen-port="+strconv.Itoa(testproc.Port(t, "127.0.0.1")))
	head.Env = append(os.Environ(), "GORAY_TMPDIR="+tmp, "GORAY_HEALTH_TIMEOUT=2s", "RAY_NODE_TYPE_NAME=headgroup")
	hlog, _ := os.Create(filepath.Join(logs, "head.log"))
	head.Stdout, head.Stderr = hlog, hlog
	testproc.DieWithParent(head)
	if err := head.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { head.Process.Kill(); _ = head.Wait() })

	startOperator(t)
	mctx, stop := context.WithCancel(ctx)
	t.Cleanup(stop) // runs before the node processes stop: the autoscaler first

	k := &kubelet{t: t, ns: ns, gcs: gcs, procs: map[string]*exec.Cmd{}, nextIP: 1}
	go k.loop(mctx)
	t.Cleanup(k.stopAll)
	kube, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{named: map[string]bool{}}
	rec.watch(mctx, t, kube, ns)

	if err := env.Client.Create(ctx, rc(ns)); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(gcs, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	gcsClient := rpcpb.NewGcsClient(conn)
	alog, _ := os.Create(filepath.Join(logs, "autoscaler.log"))
	as := autoscaler.New(autoscaler.Config{ClusterName: "rc", Namespace: ns, Interval: 200 * time.Millisecond,
		Logger: log.New(alog, "[autoscaler] ", log.Lmicroseconds)}, kube, gcsClient)
	go func() { _ = as.Run(mctx) }()
	t.Cleanup(func() {
		if t.Failed() {
			for _, f := range []string{"autoscaler.log", "head.log"} {
				b, _ := os.ReadFile(filepath.Join(logs, f))
				t.Logf("%s:\n%s", f, b)
			}
		}
	})
	return &world{ns: ns, gcs: gcs, gcsClient: gcsClient, rec: rec}
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func cluster(ns string) *rayv1.RayCluster {
	cpu1 := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "rc"},
		Spec: rayv1.RayClusterSpec{
			EnableInTreeAutoscaling: ptr.To(true),
			AutoscalerOptions:       &rayv1.AutoscalerOptions{IdleTimeoutSeconds: ptr.To[int32](2)},
			HeadGroupSpec: rayv1.HeadGroupSpec{RayStartParams: map[string]string{"num-cpus": "0"},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "ray-head", Image: "goray/goray:dev", Resources: corev1.ResourceRequirements{Limits: cpu1}}}}}},
			WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{
				GroupName: "cpu", Replicas: ptr.To[int32](1), MinReplicas: ptr.To[int32](1), MaxReplicas: ptr.To[int32](4),
				RayStartParams: map[string]string{"num-cpus": "1"},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "ray-worker", Image: "goray/goray:dev", Resources: corev1.ResourceRequirements{Limits: cpu1}}}}},
			}},
		},
	}
}

func workerPods(t *testing.T, ctx context.Context, ns string) []string {
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "worker"}); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p.Name)
		}
	}
	sort.Strings(out)
	return out
}

// TestScaleUpAndDown: 4 one-CPU tasks on a cluster with one 1-CPU worker
// (max 4) raise replicas to 4; once they finish and the 2 s idle timeout
// passes, the autoscaler names the idle pods in workersToDelete, the
// operator deletes exactly those, minReplicas 1 holds, and the list is
// cleared. An infeasible GPU task is reported, not scaled for.
func TestScaleUpAndDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := startWorld(ctx, t, cluster)
	ns, gcs, gcsClient, rec := w.ns, w.gcs, w.gcsClient, w.rec

	eventually(t, "the first worker to register", 60*time.Second, func() bool {
		st, err := gcsClient.GetClusterStatus(ctx, &rpcpb.Empty{})
		if err != nil {
			return false
		}
		for _, n := range st.Nodes {
			if n.Alive && n.NodeTypeName == "cpu" {
				return true
			}
		}
		return false
	})
	first := workerPods(t, ctx, ns)

	if err := ray.Init(ctx, ray.WithAddress(gcs)); err != nil {
		t.Fatal(err)
	}
	defer ray.Shutdown()
	var refs []ray.Ref[string]
	submitted := time.Now()
	demandAt := make(chan time.Time, 1)
	go func() { // when the queued demand first shows in the GCS's resource state
		for ctx.Err() == nil {
			if st, err := gcsClient.GetClusterStatus(ctx, &rpcpb.Empty{}); err == nil {
				for _, d := range st.Pending {
					if d.Shape["CPU"] == 1 && d.Shape["GPU"] == 0 {
						demandAt <- time.Now()
						return
					}
				}
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	for range 4 {
		refs = append(refs, sleepy.Remote(ctx, 4000))
	}
	// Never feasible: reported and warned about, not scaled for.
	sleepy.Remote(ctx, 1, ray.NumGPUs(1))

	eventually(t, "replicas 4", 60*time.Second, func() bool {
		var rc rayv1.RayCluster
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rc"}, &rc)
		return *rc.Spec.WorkerGroupSpecs[0].Replicas == 4
	})
	rec.mu.Lock()
	// Reaction time, reported (not asserted) for docs/benchmarks.md.
	seen := <-demandAt
	t.Logf("reaction: tasks submitted → demand in GCS %s → replicas patch seen by a watch %s (demand → patch %s)",
		seen.Sub(submitted).Round(time.Millisecond), rec.upAt.Sub(submitted).Round(time.Millisecond), rec.upAt.Sub(seen).Round(time.Millisecond))
	rec.mu.Unlock()
	nodes := map[string]bool{}
	for _, r := range refs {
		id, err := ray.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		nodes[id] = true
	}
	t.Logf("4 tasks ran on %d nodes", len(nodes))

	// Down: named pods, exactly those deleted, minReplicas holds, list cleared.
	eventually(t, "scale down to minReplicas with the list cleared", 90*time.Second, func() bool {
		var rc rayv1.RayCluster
		_ = env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "rc"}, &rc)
		g := rc.Spec.WorkerGroupSpecs[0]
		return *g.Replicas == 1 && len(g.ScaleStrategy.WorkersToDelete) == 0 && len(workerPods(t, ctx, ns)) == 1
	})
	eventually(t, "the watch to see 3 worker pods deleted", 30*time.Second, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return len(rec.deleted) >= 3
	})
	rec.mu.Lock()
	named := rec.named
	deleted := append([]string(nil), rec.deleted...)
	rec.mu.Unlock()
	if len(named) == 0 {
		t.Fatal("workersToDelete was never used")
	}
	for _, d := range deleted {
		if !named[d] {
			t.Errorf("pod %s was deleted without being named in workersToDelete (named: %v)", d, named)
		}
	}
	if len(deleted) != 3 {
		t.Errorf("deleted %v, want 3 pods", deleted)
	}
	// minReplicas holds: several idle timeouts later one worker is still there.
	time.Sleep(3 * time.Second)
	if w := workerPods(t, ctx, ns); len(w) != 1 {
		t.Errorf("worker pods after idling = %v, want 1 (minReplicas)", w)
	}
	rec.mu.Lock()
	if rec.maxRepl != 4 {
		t.Errorf("replicas peaked at %d, want 4", rec.maxRepl)
	}
	t.Logf("first worker %v, deleted %v, max replicas %d", first, deleted, rec.maxRepl)
	rec.mu.Unlock()

	// goray status shows the demand, the infeasible request and the last decision.
	out, err := exec.Command(bin, "status", "--address="+gcs).CombinedOutput()
	if err != nil {
		t.Fatalf("goray status: %v\n%s", err, out)
	}
	for _, want := range []string{"infeasible", "Infeasible requests:", "map[CPU:1 GPU:1]", "Last decision", "remove rc-cpu-worker-"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("goray status lacks %q:\n%s", want, out)
		}
	}
	t.Logf("goray status:\n%s", out)
	var evs corev1.EventList
	_ = env.Client.List(ctx, &evs, client.InNamespace(ns))
	found := false
	for _, e := range evs.Items {
		if e.Reason == "InfeasibleResourceRequest" && strings.Contains(e.Message, "GPU=1") {
			found = true
		}
	}
	if !found {
		t.Error("no InfeasibleResourceRequest Warning event for {GPU=1}")
	}
}

// labelledCluster has two worker groups of 1-CPU nodes, both from zero:
// "cpu" without labels (first: the recorder follows it) and "ssd" whose
// nodes are labelled disk=ssd.
func labelledCluster(ns string) *rayv1.RayCluster {
	rc := cluster(ns)
	cpu := &rc.Spec.WorkerGroupSpecs[0]
	cpu.Replicas, cpu.MinReplicas, cpu.MaxReplicas = ptr.To[int32](0), ptr.To[int32](0), ptr.To[int32](2)
	ssd := *cpu.DeepCopy()
	ssd.GroupName, ssd.Labels = "ssd", map[string]string{"disk": "ssd"}
	rc.Spec.WorkerGroupSpecs = append(rc.Spec.WorkerGroupSpecs, ssd)
	return rc
}

// TestScaleUpForLabelSelectors: two tasks that select disk=ssd, on a
// cluster with no workers, make the autoscaler launch two nodes of the
// group labelled disk=ssd and none of the other group, whose nodes have
// the same CPUs; the tasks run there, on nodes the GCS knows as disk=ssd.
func TestScaleUpForLabelSelectors(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	w := startWorld(ctx, t, labelledCluster)
	if err := ray.Init(ctx, ray.WithAddress(w.gcs)); err != nil {
		t.Fatal(err)
	}
	defer ray.Shutdown()
	ssd := ray.LabelSelector(map[string]string{"disk": "ssd"})
	refs := []ray.Ref[string]{sleepy.Remote(ctx, 2000, ssd), sleepy.Remote(ctx, 2000, ssd)}
	ran := map[string]bool{}
	for _, r := range refs {
		id, err := ray.Get(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		ran[id] = true
	}
	st, err := w.gcsClient.GetClusterStatus(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range st.Nodes {
		if ran[n.NodeId] && (n.Labels["disk"] != "ssd" || n.NodeTypeName != "ssd") {
			t.Errorf("a task that selects disk=ssd ran on node %s of group %q labelled %v", n.NodeId, n.NodeTypeName, n.Labels)
		}
	}
	var rc rayv1.RayCluster
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: w.ns, Name: "rc"}, &rc); err != nil {
		t.Fatal(err)
	}
	w.rec.mu.Lock()
	cpuPeak := w.rec.maxRepl
	w.rec.mu.Unlock()
	if got := *rc.Spec.WorkerGroupSpecs[1].Replicas; got < 1 || cpuPeak != 0 {
		t.Fatalf("replicas: ssd %d, cpu peaked at %d; want ssd scaled up and cpu never", got, cpuPeak)
	}
	t.Logf("the 2 tasks ran on %d ssd node(s); ssd replicas %d, cpu never above 0", len(ran), *rc.Spec.WorkerGroupSpecs[1].Replicas)
}
