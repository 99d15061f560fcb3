package raycluster_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
)

var (
	env *testenv.Env
	k8s client.Client
)

// Namespaces reconciled by the shared operator; tests that run their own
// operator use other namespaces.
var sharedNamespaces = []string{"basic", "scale", "autoscale", "replace", "suspend", "recreate", "status", "samples", "invalid"}

func TestMain(m *testing.M) { testenv.MainAtLevel(m, logLevel(), run) }

func run(m *testing.M) (int, error) {
	var err error
	if env, err = testenv.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, ns := range append(slices.Clone(sharedNamespaces), "restart") {
		if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return 0, err
		}
	}
	stop, err := startOperator(ctx, sharedNamespaces, nil)
	if err != nil {
		return 0, err
	}
	defer stop()
	return m.Run(), nil
}

// logLevel is the controller log level: errors only, as the controller's
// info logs drown test output, unless GORAY_TEST_VERBOSE is set.
func logLevel() zapcore.Level {
	if os.Getenv("GORAY_TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

// startOperator runs the operator's manager for the given namespaces until
// ctx ends; stop waits for it to exit.
func startOperator(ctx context.Context, namespaces []string, mutate func(*operator.Options)) (stop func(), err error) {
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.WatchNamespaces = namespaces
	o.SkipNameValidation = true
	if mutate != nil {
		mutate(&o)
	}
	mgr, err := operator.NewManager(env.Config, o)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	return func() { cancel(); <-done }, nil
}

// eventually polls cond until it holds or the deadline passes: a minute,
// for a reconcile that failed under load (a conflict, a slow API server)
// waits out the controller's growing retry delays before it goes on
// (make test once saw a recreate miss 30 s while every package ran).
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	testenv.Eventually(t, time.Minute, what, cond)
}

// consistently checks that cond keeps holding for a while.
func consistently(t *testing.T, what string, d time.Duration, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		ok, err := cond()
		if err != nil || !ok {
			t.Fatalf("%s stopped holding (err %v)", what, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func newCluster(ns, name string, workers ...rayv1.WorkerGroupSpec) *rayv1.RayCluster {
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rayv1.RayClusterSpec{
			HeadGroupSpec: rayv1.HeadGroupSpec{
				RayStartParams: map[string]string{},
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "ray-head", Image: "goray/goray:dev",
					Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
						corev1.ResourceCPU: mustQuantity("2"), corev1.ResourceMemory: mustQuantity("2Gi")}},
				}}}},
			},
			WorkerGroupSpecs: workers,
		},
	}
}

func workerGroup(name string, replicas, minR, maxR int32) rayv1.WorkerGroupSpec {
	return rayv1.WorkerGroupSpec{
		GroupName: name, Replicas: ptr.To(replicas), MinReplicas: ptr.To(minR), MaxReplicas: ptr.To(maxR),
		RayStartParams: map[string]string{},
		Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "ray-worker", Image: "goray/goray:dev",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: mustQuantity("1")}},
		}}}},
	}
}

// pods lists a cluster's pods that are not being deleted, sorted by name.
func pods(ctx context.Context, ns, cluster string, extra ...client.ListOption) ([]corev1.Pod, error) {
	list := &corev1.PodList{}
	opts := append([]client.ListOption{client.InNamespace(ns), client.MatchingLabels{rayv1.RayClusterLabelKey: cluster}}, extra...)
	if err := k8s.List(ctx, list, opts...); err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp.IsZero() {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func workers(ctx context.Context, ns, cluster string) ([]corev1.Pod, error) {
	return pods(ctx, ns, cluster, client.MatchingLabels{rayv1.RayClusterLabelKey: cluster, rayv1.RayNodeTypeLabelKey: "worker"})
}

func names(ps []corev1.Pod) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// waitForCounts waits until the cluster has exactly one head and n workers.
func waitForCounts(t *testing.T, ctx context.Context, ns, cluster string, n int) []corev1.Pod {
	t.Helper()
	var ws []corev1.Pod
	eventually(t, fmt.Sprintf("%s/%s to have a head and %d workers", ns, cluster, n), func() (bool, error) {
		all, err := pods(ctx, ns, cluster)
		if err != nil {
			return false, err
		}
		heads := 0
		ws = ws[:0]
		for _, p := range all {
			if p.Labels[rayv1.RayNodeTypeLabelKey] == "head" {
				heads++
			} else {
				ws = append(ws, p)
			}
		}
		return heads == 1 && len(ws) == n, nil
	})
	return ws
}

// markRunning plays the kubelet: the pods become Running and Ready.
func markRunning(ctx context.Context, ps []corev1.Pod) error {
	for i := range ps {
		if err := testenv.MarkPodReady(ctx, k8s, ps[i].DeepCopy(), fmt.Sprintf("10.1.0.%d", i+10)); err != nil {
			return err
		}
	}
	return nil
}

func getCluster(ctx context.Context, ns, name string) (*rayv1.RayCluster, error) {
	c := &rayv1.RayCluster{}
	return c, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, c)
}

// patchCluster applies change to the cluster with a merge patch.
func patchCluster(ctx context.Context, ns, name string, change func(*rayv1.RayCluster)) error {
	c, err := getCluster(ctx, ns, name)
	if err != nil {
		return err
	}
	before := c.DeepCopy()
	change(c)
	return k8s.Patch(ctx, c, client.MergeFrom(before))
}
