package raycluster_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestCreateBuildsHeadServiceAndPods(t *testing.T) {
	ctx := context.Background()
	c := newCluster("basic", "demo", workerGroup("small", 2, 0, 5))
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, "basic", "demo", 2)

	svc := &corev1.Service{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "basic", Name: "demo-head-svc"}, svc); err != nil {
		t.Fatalf("head service: %v", err)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("head service is not headless: clusterIP %q", svc.Spec.ClusterIP)
	}
	if svc.Spec.Selector[rayv1.RayNodeTypeLabelKey] != "head" || svc.Spec.Selector[rayv1.RayClusterLabelKey] != "demo" {
		t.Errorf("head service selector %v", svc.Spec.Selector)
	}
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	for name, want := range map[string]int32{"gcs-server": 6379, "dashboard": 8265, "client": 10001, "metrics": 8080, "serve": 8000} {
		if ports[name] != want {
			t.Errorf("head service port %s = %d, want %d", name, ports[name], want)
		}
	}

	heads, err := pods(ctx, "basic", "demo", client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads: %v %v", len(heads), err)
	}
	head := heads[0]
	wantLabels := map[string]string{
		rayv1.RayClusterLabelKey: "demo", rayv1.RayNodeTypeLabelKey: "head", rayv1.RayNodeGroupLabelKey: "headgroup",
		rayv1.RayIsRayNodeLabelKey: "yes", rayv1.RayIDLabelKey: "demo-head",
		rayv1.KubernetesApplicationNameKey: "kuberay", rayv1.KubernetesCreatedByLabelKey: "goray-operator",
	}
	for k, v := range wantLabels {
		if head.Labels[k] != v {
			t.Errorf("head label %s = %q, want %q", k, head.Labels[k], v)
		}
	}
	if !strings.HasPrefix(head.Name, "demo-head-") {
		t.Errorf("head pod name %q", head.Name)
	}
	cmd := strings.Join(head.Spec.Containers[0].Command, " ")
	for _, part := range []string{"goray start --head", "--port=6379", "--num-cpus=2", "--memory=2147483648", "--dashboard-host=0.0.0.0", "--block"} {
		if !strings.Contains(cmd, part) {
			t.Errorf("head command %q lacks %q", cmd, part)
		}
	}
	if p := head.Spec.Containers[0].ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/gcs_healthz" {
		t.Errorf("head readiness probe %+v", p)
	}
	if len(head.OwnerReferences) != 1 || head.OwnerReferences[0].Name != "demo" || !ptr.Deref(head.OwnerReferences[0].Controller, false) {
		t.Errorf("head owner references %+v", head.OwnerReferences)
	}

	for _, w := range ws {
		if w.Labels[rayv1.RayNodeGroupLabelKey] != "small" || !strings.HasPrefix(w.Name, "demo-small-worker-") {
			t.Errorf("worker %s labels %v", w.Name, w.Labels)
		}
		cmd := strings.Join(w.Spec.Containers[0].Command, " ")
		if !strings.Contains(cmd, "goray start --address=demo-head-svc.basic.svc.cluster.local:6379") || !strings.Contains(cmd, "--num-cpus=1") {
			t.Errorf("worker command %q", cmd)
		}
		env := map[string]corev1.EnvVar{}
		for _, e := range w.Spec.Containers[0].Env {
			env[e.Name] = e
		}
		if env["RAY_NODE_TYPE_NAME"].Value != "small" {
			t.Errorf("RAY_NODE_TYPE_NAME = %q", env["RAY_NODE_TYPE_NAME"].Value)
		}
		if ref := env["RAY_CLOUD_INSTANCE_ID"].ValueFrom; ref == nil || ref.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("RAY_CLOUD_INSTANCE_ID = %+v", env["RAY_CLOUD_INSTANCE_ID"])
		}
		if p := w.Spec.Containers[0].LivenessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/local_raylet_healthz" || p.HTTPGet.Port.IntValue() != 52365 {
			t.Errorf("worker liveness probe %+v", p)
		}
	}

	eventually(t, "status with desired workers", func() (bool, error) {
		got, err := getCluster(ctx, "basic", "demo")
		if err != nil {
			return false, err
		}
		st := got.Status
		return st.DesiredWorkerReplicas == 2 && st.MaxWorkerReplicas == 5 && st.DesiredCPU.String() == "4" &&
			st.Head.ServiceName == "demo-head-svc" && st.ObservedGeneration == got.Generation, nil
	})
}

func TestScaleUpAndDown(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newCluster("scale", "sc", workerGroup("g", 1, 0, 10))); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "scale", "sc", 1)
	if err := patchCluster(ctx, "scale", "sc", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](4) }); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, "scale", "sc", 4)
	// Make two ready: the operator removes not-ready pods first.
	if err := markRunning(ctx, ws[:2]); err != nil {
		t.Fatal(err)
	}
	ready := names(ws[:2])
	eventually(t, "the operator to see two ready workers", func() (bool, error) {
		c, err := getCluster(ctx, "scale", "sc")
		return err == nil && c.Status.ReadyWorkerReplicas == 2, err
	})
	if err := patchCluster(ctx, "scale", "sc", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](2) }); err != nil {
		t.Fatal(err)
	}
	left := waitForCounts(t, ctx, "scale", "sc", 2)
	if !slices.Equal(names(left), ready) {
		t.Errorf("scale-down kept %v, want the ready pods %v", names(left), ready)
	}
	// Replicas above maxReplicas are clamped.
	if err := patchCluster(ctx, "scale", "sc", func(c *rayv1.RayCluster) {
		c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](50)
		c.Spec.WorkerGroupSpecs[0].MaxReplicas = ptr.To[int32](3)
	}); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "scale", "sc", 3)
}

func TestAutoscalingDeletesOnlyNamedWorkers(t *testing.T) {
	ctx := context.Background()
	c := newCluster("autoscale", "as", workerGroup("g", 3, 1, 5))
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, "autoscale", "as", 3)

	// The autoscaler's RBAC and sidecar exist.
	for _, obj := range []client.Object{&corev1.ServiceAccount{}, &rbacv1.Role{}, &rbacv1.RoleBinding{}} {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: "autoscale", Name: "as"}, obj); err != nil {
			t.Errorf("autoscaler %T: %v", obj, err)
		}
	}
	heads, _ := pods(ctx, "autoscale", "as", client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if len(heads) != 1 || len(heads[0].Spec.Containers) != 2 || heads[0].Spec.Containers[1].Name != "autoscaler" || heads[0].Spec.ServiceAccountName != "as" {
		t.Fatalf("head pod lacks the autoscaler sidecar or its ServiceAccount")
	}

	// Fewer replicas without names: the operator deletes nothing.
	if err := patchCluster(ctx, "autoscale", "as", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](2) }); err != nil {
		t.Fatal(err)
	}
	consistently(t, "all three workers kept", 1500e6, func() (bool, error) {
		got, err := workers(ctx, "autoscale", "as")
		return len(got) == 3, err
	})

	// The autoscaler's protocol: replicas and the pod to delete, together.
	victim := ws[1].Name
	if err := patchCluster(ctx, "autoscale", "as", func(c *rayv1.RayCluster) {
		c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](2)
		c.Spec.WorkerGroupSpecs[0].ScaleStrategy.WorkersToDelete = []string{victim}
	}); err != nil {
		t.Fatal(err)
	}
	left := waitForCounts(t, ctx, "autoscale", "as", 2)
	want := []string{ws[0].Name, ws[2].Name}
	if !slices.Equal(names(left), want) {
		t.Fatalf("after workersToDelete=[%s] left %v, want %v", victim, names(left), want)
	}
	consistently(t, "no replacement for the named pod", 1500e6, func() (bool, error) {
		got, err := workers(ctx, "autoscale", "as")
		return len(got) == 2, err
	})
}
