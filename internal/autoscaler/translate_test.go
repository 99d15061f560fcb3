package autoscaler

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func i32(v int32) *int32 { return &v }

func testCluster() *rayv1.RayCluster {
	limits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2500m"), corev1.ResourceMemory: resource.MustParse("1Gi"),
		"nvidia.com/gpu": resource.MustParse("1")}
	return &rayv1.RayCluster{ObjectMeta: metav1.ObjectMeta{Name: "rc", Namespace: "ns"}, Spec: rayv1.RayClusterSpec{
		AutoscalerOptions: &rayv1.AutoscalerOptions{IdleTimeoutSeconds: i32(5)},
		WorkerGroupSpecs: []rayv1.WorkerGroupSpec{
			{GroupName: "cpu", Replicas: i32(1), MinReplicas: i32(1), MaxReplicas: i32(4), IdleTimeoutSeconds: i32(2),
				RayStartParams: map[string]string{"num-cpus": "1", "resources": `'{"custom": 3}'`}},
			{GroupName: "gpu", Replicas: i32(0), MaxReplicas: i32(2), Priority: i32(7), NumOfHosts: 2,
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray",
					Resources: corev1.ResourceRequirements{Limits: limits}}}}}},
		}}}
}

func TestNodeTypes(t *testing.T) {
	types, err := NodeTypes(testCluster())
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(types)
	want := `[{"name":"cpu","resources":{"CPU":1,"custom":3},"replicas":1,"minReplicas":1,"maxReplicas":4,"numOfHosts":1,"idleTimeout":2000000000},` +
		`{"name":"gpu","resources":{"CPU":2.5,"GPU":1,"memory":1073741824},"replicas":0,"minReplicas":0,"maxReplicas":2,"numOfHosts":2,"priority":7}]`
	if string(got) != want {
		t.Fatalf("node types\n got %s\nwant %s", got, want)
	}
	if IdleTimeout(testCluster()) != 5*time.Second || UpscalingMode(testCluster()) != "Default" {
		t.Fatal("autoscalerOptions defaults")
	}
}

func pod(name, group, kind string, deleting bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		rayv1.RayNodeGroupLabelKey: group, rayv1.RayNodeTypeLabelKey: kind}}}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestBuildInputMapsPodsToNodes(t *testing.T) {
	rc := testCluster()
	rc.Spec.WorkerGroupSpecs[0].ScaleStrategy.WorkersToDelete = []string{"cpu-b"}
	live := LivePods([]corev1.Pod{pod("head", "headgroup", "head", false), pod("cpu-a", "cpu", "worker", false),
		pod("cpu-b", "cpu", "worker", false), pod("cpu-c", "cpu", "worker", true), pod("cpu-d", "cpu", "worker", false)})
	st := &rpcpb.ClusterStatus{
		Nodes: []*rpcpb.NodeView{
			{NodeId: "h", Alive: true, IsHead: true, Total: map[string]float64{"CPU": 0}},
			{NodeId: "n1", Alive: true, InstanceId: "cpu-a", Total: map[string]float64{"CPU": 1}, Available: map[string]float64{"CPU": 1}, IdleDurationMs: 3000, ObjectStoreObjects: 2},
			{NodeId: "n2", Alive: true, InstanceId: "cpu-b", Status: "DRAINING"},
			{NodeId: "old", Alive: false, InstanceId: "cpu-d"},
		},
		Pending:      []*rpcpb.ResourceDemand{{Shape: map[string]float64{"CPU": 1}, Count: 3, Infeasible: true}},
		PendingGangs: []*rpcpb.GangDemand{{PlacementGroupId: "pg", Strategy: "STRICT_SPREAD", Bundles: []*rpcpb.Bundle{{Resources: map[string]float64{"CPU": 1}}}}},
		Constraints:  []*rpcpb.ResourceDemand{{Shape: map[string]float64{"CPU": 1}, Count: 2}},
	}
	if w := PendingDeletes(rc, live); len(w) != 1 || w[0] != "cpu-b" {
		t.Fatalf("pending deletes = %v", w)
	}
	in, err := BuildInput(rc, live, st)
	if err != nil {
		t.Fatal(err)
	}
	byPod := map[string]int{}
	for i, n := range in.Nodes {
		byPod[n.Pod] = i
	}
	if _, ok := byPod["cpu-c"]; ok {
		t.Error("a pod being deleted was counted")
	}
	a := in.Nodes[byPod["cpu-a"]]
	if a.NodeID != "n1" || a.Idle != 3*time.Second || !a.Busy || a.Type != "cpu" {
		t.Errorf("cpu-a = %+v", a)
	}
	if b := in.Nodes[byPod["cpu-b"]]; !b.PendingDelete || !b.Draining {
		t.Errorf("cpu-b = %+v", b)
	}
	if d := in.Nodes[byPod["cpu-d"]]; d.NodeID != "" {
		t.Errorf("cpu-d (its old node is dead) = %+v, want starting", d)
	}
	if h := in.Nodes[byPod["head"]]; !h.IsHead || h.NodeID != "h" {
		t.Errorf("head = %+v", h)
	}
	if len(in.Pending) != 1 || in.Pending[0].Count != 3 || len(in.Gangs) != 1 || in.Gangs[0].Strategy != "STRICT_SPREAD" || len(in.Constraints) != 1 {
		t.Errorf("demand = %+v %+v %+v", in.Pending, in.Gangs, in.Constraints)
	}
}

func TestBuildPatch(t *testing.T) {
	rc := testCluster()
	// Scale cpu up with nothing to delete: only replicas, guarded by the group name.
	ops := BuildPatch(rc, []bool{true, false}, map[string]int32{"cpu": 4, "gpu": 0}, nil)
	got, _ := json.Marshal(ops)
	want := `[{"op":"test","path":"/spec/workerGroupSpecs/0/groupName","value":"cpu"},{"op":"replace","path":"/spec/workerGroupSpecs/0/replicas","value":4}]`
	if string(got) != want {
		t.Fatalf("scale up patch\n got %s\nwant %s", got, want)
	}
	// Scale down with named pods; the gpu group has no scaleStrategy yet, so add.
	ops = BuildPatch(rc, []bool{true, false}, map[string]int32{"cpu": 1, "gpu": 1}, map[string][]string{"gpu": {"g-a", "g-b"}})
	got, _ = json.Marshal(ops)
	want = `[{"op":"test","path":"/spec/workerGroupSpecs/1/groupName","value":"gpu"},{"op":"replace","path":"/spec/workerGroupSpecs/1/replicas","value":1},` +
		`{"op":"add","path":"/spec/workerGroupSpecs/1/scaleStrategy","value":{"workersToDelete":["g-a","g-b"]}}]`
	if string(got) != want {
		t.Fatalf("scale down patch\n got %s\nwant %s", got, want)
	}
	// The old list's pods are gone: clear it.
	rc.Spec.WorkerGroupSpecs[0].ScaleStrategy.WorkersToDelete = []string{"cpu-x"}
	ops = BuildPatch(rc, []bool{true, true}, map[string]int32{"cpu": 1, "gpu": 0}, nil)
	got, _ = json.Marshal(ops)
	want = `[{"op":"test","path":"/spec/workerGroupSpecs/0/groupName","value":"cpu"},{"op":"replace","path":"/spec/workerGroupSpecs/0/scaleStrategy","value":{"workersToDelete":[]}}]`
	if string(got) != want {
		t.Fatalf("clear patch\n got %s\nwant %s", got, want)
	}
	if ops := BuildPatch(testCluster(), nil, map[string]int32{"cpu": 1, "gpu": 0}, nil); ops != nil {
		t.Fatalf("no change should be no patch, got %v", ops)
	}
}

// TestNodeTypesReadRayStartParamsAsThePodBuilderDoes: the resources the
// autoscaler plans with are those the pod's `goray start` offers —
// rayStartParams values as shell words (KubeRay's ray-job.resources.yaml),
// the group's resources map replacing rayStartParams resources, TPU from the
// limits unless given.
func TestNodeTypesReadRayStartParamsAsThePodBuilderDoes(t *testing.T) {
	rc := testCluster()
	tpu := corev1.ResourceList{"google.com/tpu": resource.MustParse("4")}
	rc.Spec.WorkerGroupSpecs = []rayv1.WorkerGroupSpec{
		{GroupName: "sample", RayStartParams: map[string]string{"num-cpus": `"1"`, "resources": `"{\"resource1\": 2, \"resource2\": 3}"`}},
		{GroupName: "group-map", Resources: map[string]string{"x": "1"}, RayStartParams: map[string]string{"resources": `'{"y": 2}'`}},
		{GroupName: "tpu", RayStartParams: map[string]string{"resources": `'{"accel": 1}'`},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray",
				Resources: corev1.ResourceRequirements{Limits: tpu}}}}}},
	}
	types, err := NodeTypes(rc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, nt := range types {
		b, _ := json.Marshal(nt.Resources)
		got = append(got, nt.Name+" "+string(b))
	}
	want := []string{`sample {"CPU":1,"resource1":2,"resource2":3}`, `group-map {"x":1}`, `tpu {"TPU":4,"accel":1}`}
	if !slices.Equal(got, want) {
		t.Fatalf("resources\n got %q\nwant %q", got, want)
	}

	rc.Spec.WorkerGroupSpecs[0].RayStartParams["num-cpus"] = "$CPUS"
	if _, err := NodeTypes(rc); err == nil || err.Error() != `worker group sample: rayStartParams.num-cpus: "$CPUS" refers to $CPUS, which is only known inside the pod` {
		t.Fatalf("a number from the environment: %v", err)
	}
}

// A group's labels, as the pod builder passes them to --labels: the
// group's labels map over rayStartParams labels (JSON or key=value,...);
// labels that name the container's environment are not known here.
func TestNodeTypesReadLabelsAsThePodBuilderDoes(t *testing.T) {
	rc := testCluster()
	rc.Spec.WorkerGroupSpecs = []rayv1.WorkerGroupSpec{
		{GroupName: "map", Labels: map[string]string{"zone": "a"}, RayStartParams: map[string]string{"labels": `'{"zone": "x"}'`}},
		{GroupName: "json", RayStartParams: map[string]string{"labels": `'{"zone": "b"}'`}},
		{GroupName: "ray", RayStartParams: map[string]string{"labels": "zone=c,disk=ssd"}},
		{GroupName: "env", RayStartParams: map[string]string{"labels": "zone=$ZONE"}},
		{GroupName: "none"},
	}
	types, err := NodeTypes(rc)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, nt := range types {
		b, _ := json.Marshal(nt.Labels)
		got = append(got, nt.Name+" "+string(b))
	}
	want := []string{`map {"zone":"a"}`, `json {"zone":"b"}`, `ray {"disk":"ssd","zone":"c"}`, `env null`, `none null`}
	if !slices.Equal(got, want) {
		t.Fatalf("labels\n got %q\nwant %q", got, want)
	}
}
