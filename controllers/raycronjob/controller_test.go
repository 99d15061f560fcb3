package raycronjob_test

import (
	"context"
	"fmt"
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
)

var (
	k8s client.Client
	clk = clocktesting.NewFakeClock(time.Now())
)

func TestMain(m *testing.M) { testenv.Main(m, run) }

func run(m *testing.M) (int, error) {
	env, err := testenv.Start()
	if err != nil {
		return 0, err
	}
	defer func() { _ = env.Stop() }()
	k8s = env.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cron"}}); err != nil {
		return 0, err
	}
	o := operator.DefaultOptions()
	o.MetricsAddr, o.ProbeAddr, o.WatchNamespaces, o.Clock = "0", "0", []string{"cron"}, clk
	mgr, err := operator.NewManager(env.Config, o)
	if err != nil {
		return 0, err
	}
	done := make(chan struct{})
	go func() { _ = mgr.Start(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	return m.Run(), nil
}

func rayJobs(ctx context.Context, cron string) ([]rayv1.RayJob, error) {
	list := &rayv1.RayJobList{}
	err := k8s.List(ctx, list, client.InNamespace("cron"), client.MatchingLabels{rayv1.RayOriginatedFromCRNameKey: cron})
	return list.Items, err
}

func poke(ctx context.Context, name string) error {
	cj := &rayv1.RayCronJob{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "cron", Name: name}, cj); err != nil {
		return err
	}
	before := cj.DeepCopy()
	if cj.Annotations == nil {
		cj.Annotations = map[string]string{}
	}
	cj.Annotations["test/poke"] = time.Now().Format(time.RFC3339Nano)
	return k8s.Patch(ctx, cj, client.MergeFrom(before))
}

func expectJobs(t *testing.T, ctx context.Context, cron string, n int) []rayv1.RayJob {
	t.Helper()
	var jobs []rayv1.RayJob
	testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%d RayJobs of %s", n, cron), func() (bool, error) {
		var err error
		if jobs, err = rayJobs(ctx, cron); err != nil {
			return false, err
		}
		if len(jobs) != n {
			return false, fmt.Errorf("have %d", len(jobs))
		}
		time.Sleep(300 * time.Millisecond) // and no more than n
		if jobs, err = rayJobs(ctx, cron); err != nil {
			return false, err
		}
		if len(jobs) != n {
			return false, fmt.Errorf("have %d", len(jobs))
		}
		return true, nil
	})
	return jobs
}

func TestCreatesRayJobsOnScheduleAndHonoursSuspend(t *testing.T) {
	ctx := context.Background()
	cj := &rayv1.RayCronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cron", Name: "every5"},
		Spec: rayv1.RayCronJobSpec{
			Schedule: "*/5 * * * *",
			TimeZone: ptr.To("UTC"),
			JobTemplate: rayv1.RayJobSpec{
				Entrypoint:     "goray-examples pi",
				SubmissionMode: rayv1.HTTPMode,
				RayClusterSpec: &rayv1.RayClusterSpec{HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					Containers: []corev1.Container{{Name: "ray-head", Image: "goray/goray:dev"}}}}}},
			},
		},
	}
	if err := k8s.Create(ctx, cj); err != nil {
		t.Fatal(err)
	}
	// Schedules count from the creation time (the API server's clock): start
	// the fake clock there, so that five minutes later one run is always due
	// (from the clock's start at package init, the control plane's start-up
	// could push the first boundary past it).
	clk.SetTime(cj.CreationTimestamp.Time)
	expectJobs(t, ctx, "every5", 0)

	clk.Step(5 * time.Minute)
	if err := poke(ctx, "every5"); err != nil {
		t.Fatal(err)
	}
	jobs := expectJobs(t, ctx, "every5", 1)
	j := jobs[0]
	if j.Spec.Entrypoint != "goray-examples pi" || len(j.OwnerReferences) != 1 || j.OwnerReferences[0].Kind != "RayCronJob" {
		t.Errorf("RayJob %s not built from the template: %+v", j.Name, j.Spec)
	}
	got := &rayv1.RayCronJob{}
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(cj), got)
	if got.Status.LastScheduleTime == nil || j.Name != fmt.Sprintf("every5-%d", got.Status.LastScheduleTime.Unix()/60) {
		t.Errorf("RayJob %s does not match the last schedule time %v", j.Name, got.Status.LastScheduleTime)
	}

	// Suspended: time passes, nothing is created.
	before := got.DeepCopy()
	got.Spec.Suspend = true
	if err := k8s.Patch(ctx, got, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	clk.Step(5 * time.Minute)
	if err := poke(ctx, "every5"); err != nil {
		t.Fatal(err)
	}
	expectJobs(t, ctx, "every5", 1)

	// Resumed: the missed time runs once.
	_ = k8s.Get(ctx, client.ObjectKeyFromObject(cj), got)
	before = got.DeepCopy()
	got.Spec.Suspend = false
	if err := k8s.Patch(ctx, got, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
	expectJobs(t, ctx, "every5", 2)
}

func TestInvalidScheduleCreatesNothing(t *testing.T) {
	ctx := context.Background()
	cj := &rayv1.RayCronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cron", Name: "bad"},
		Spec: rayv1.RayCronJobSpec{Schedule: "every five minutes", JobTemplate: rayv1.RayJobSpec{Entrypoint: "true",
			RayClusterSpec: &rayv1.RayClusterSpec{HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "ray-head", Image: "goray/goray:dev"}}}}}}}},
	}
	if err := k8s.Create(ctx, cj); err != nil {
		t.Fatal(err)
	}
	clk.Step(10 * time.Minute)
	if err := poke(ctx, "bad"); err != nil {
		t.Fatal(err)
	}
	expectJobs(t, ctx, "bad", 0)
}
