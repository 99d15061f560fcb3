package raycluster

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

var (
	st0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st1 = st0.Add(time.Minute)
	st2 = st0.Add(2 * time.Minute)
)

func statusCluster(replicas int32) *rayv1.RayCluster {
	res := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "ns1", Generation: 7},
		Spec: rayv1.RayClusterSpec{
			HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "ray", Resources: res}},
			}}},
			WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{
				GroupName: "small", Replicas: ptr.To(replicas), MinReplicas: ptr.To[int32](0), MaxReplicas: ptr.To[int32](10),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray", Resources: res}}}},
			}},
		},
	}
}

func statusPod(name string, nodeType rayv1.RayNodeType, phase corev1.PodPhase, ready bool) corev1.Pod {
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{rayv1.RayNodeTypeLabelKey: string(nodeType)}},
		Status:     corev1.PodStatus{Phase: phase, PodIP: "10.0.0." + name[len(name)-1:]},
	}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func statusReadyHead() corev1.Pod {
	return statusPod("head-1", rayv1.HeadNode, corev1.PodRunning, true)
}
func statusReadyWorker(i int) corev1.Pod {
	return statusPod("w-"+string(rune('0'+i)), rayv1.WorkerNode, corev1.PodRunning, true)
}

func statusHeadlessSvc() *corev1.Service {
	return &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{
		{Name: "gcs-server", Port: 6379}, {Name: "dashboard", Port: 8265},
	}}}
}

func statusCond(t *testing.T, st rayv1.RayClusterStatus, typ rayv1.RayClusterConditionType) *metav1.Condition {
	t.Helper()
	return meta.FindStatusCondition(st.Conditions, string(typ))
}

func TestComputeStatusCounts(t *testing.T) {
	tests := []struct {
		name             string
		pods             []corev1.Pod
		ready, available int32
		headName         string
	}{
		{name: "no pods"},
		{name: "ready and available", pods: []corev1.Pod{statusReadyHead(), statusReadyWorker(1), statusReadyWorker(2)}, ready: 2, available: 2, headName: "head-1"},
		{name: "running not ready counts available only", pods: []corev1.Pod{
			statusReadyHead(), statusReadyWorker(1), statusPod("w-2", rayv1.WorkerNode, corev1.PodRunning, false),
		}, ready: 1, available: 2, headName: "head-1"},
		{name: "pending and failed count nothing", pods: []corev1.Pod{
			statusPod("w-1", rayv1.WorkerNode, corev1.PodPending, false), statusPod("w-2", rayv1.WorkerNode, corev1.PodFailed, false),
		}},
		{name: "ready head preferred", pods: []corev1.Pod{
			statusPod("head-1", rayv1.HeadNode, corev1.PodPending, false), statusPod("head-2", rayv1.HeadNode, corev1.PodRunning, true),
		}, headName: "head-2"},
		{name: "pods without node type ignored", pods: []corev1.Pod{statusPod("x-1", "redis-cleanup", corev1.PodRunning, true)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := statusCluster(3)
			st := computeStatus(observed{cluster: c, pods: tt.pods, now: st0})
			if st.ReadyWorkerReplicas != tt.ready || st.AvailableWorkerReplicas != tt.available {
				t.Errorf("ready/available = %d/%d, want %d/%d", st.ReadyWorkerReplicas, st.AvailableWorkerReplicas, tt.ready, tt.available)
			}
			if st.Head.PodName != tt.headName {
				t.Errorf("head pod = %q, want %q", st.Head.PodName, tt.headName)
			}
			if st.DesiredWorkerReplicas != 3 || st.MinWorkerReplicas != 0 || st.MaxWorkerReplicas != 10 {
				t.Errorf("desired/min/max = %d/%d/%d", st.DesiredWorkerReplicas, st.MinWorkerReplicas, st.MaxWorkerReplicas)
			}
			if st.DesiredCPU.Cmp(resource.MustParse("4")) != 0 {
				t.Errorf("desiredCPU = %s, want 4", st.DesiredCPU.String())
			}
			if st.ObservedGeneration != 7 {
				t.Errorf("observedGeneration = %d, want 7", st.ObservedGeneration)
			}
			if st.Head.ServiceName != "demo-head-svc" {
				t.Errorf("head service name = %q", st.Head.ServiceName)
			}
		})
	}
	t.Run("counts reset each time", func(t *testing.T) {
		c := statusCluster(3)
		c.Status.ReadyWorkerReplicas, c.Status.AvailableWorkerReplicas = 5, 5
		st := computeStatus(observed{cluster: c, now: st0})
		if st.ReadyWorkerReplicas != 0 || st.AvailableWorkerReplicas != 0 {
			t.Errorf("stale counts kept: %d/%d", st.ReadyWorkerReplicas, st.AvailableWorkerReplicas)
		}
	})
}

func TestComputeStatusHeadInfoAndEndpoints(t *testing.T) {
	tests := []struct {
		name      string
		pods      []corev1.Pod
		svc       *corev1.Service
		serviceIP string
		podIP     string
		endpoints map[string]string
	}{
		{name: "no service", pods: []corev1.Pod{statusReadyHead()}, podIP: "10.0.0.1"},
		{name: "headless uses pod IP", pods: []corev1.Pod{statusReadyHead()}, svc: statusHeadlessSvc(), serviceIP: "10.0.0.1", podIP: "10.0.0.1",
			endpoints: map[string]string{"gcs-server": "6379", "dashboard": "8265"}},
		{name: "headless without head pod", svc: statusHeadlessSvc(), endpoints: map[string]string{"gcs-server": "6379", "dashboard": "8265"}},
		{name: "cluster IP", pods: []corev1.Pod{statusReadyHead()}, podIP: "10.0.0.1", serviceIP: "10.96.0.10",
			svc:       &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Name: "client", Port: 10001}}}},
			endpoints: map[string]string{"client": "10001"}},
		{name: "node port preferred", pods: []corev1.Pod{statusReadyHead()}, podIP: "10.0.0.1", serviceIP: "10.96.0.11",
			svc: &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, ClusterIP: "10.96.0.11", Ports: []corev1.ServicePort{
				{Name: "dashboard", Port: 8265, NodePort: 30265}, {Name: "client", Port: 10001},
			}}},
			endpoints: map[string]string{"dashboard": "30265", "client": "10001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := statusCluster(0)
			c.Status.Endpoints = map[string]string{"stale": "1"}
			st := computeStatus(observed{cluster: c, pods: tt.pods, headService: tt.svc, now: st0})
			if st.Head.ServiceIP != tt.serviceIP || st.Head.PodIP != tt.podIP {
				t.Errorf("serviceIP/podIP = %q/%q, want %q/%q", st.Head.ServiceIP, st.Head.PodIP, tt.serviceIP, tt.podIP)
			}
			if len(st.Endpoints) != len(tt.endpoints) {
				t.Errorf("endpoints = %v, want %v", st.Endpoints, tt.endpoints)
			}
			for k, v := range tt.endpoints {
				if st.Endpoints[k] != v {
					t.Errorf("endpoint %s = %q, want %q", k, st.Endpoints[k], v)
				}
			}
		})
	}
}

func TestComputeStatusHeadPodReady(t *testing.T) {
	waiting := statusPod("head-1", rayv1.HeadNode, corev1.PodPending, false)
	waiting.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "ray", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "no such image"}}},
	}
	crashed := statusPod("head-1", rayv1.HeadNode, corev1.PodRunning, false)
	crashed.Status.ContainerStatuses = []corev1.ContainerStatus{
		{Name: "ray", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", Message: "exit 1"}}},
	}
	unsched := statusPod("head-1", rayv1.HeadNode, corev1.PodPending, false)
	unsched.Status.Conditions = append(unsched.Status.Conditions, corev1.PodCondition{
		Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes",
	})
	tests := []struct {
		name    string
		pods    []corev1.Pod
		status  metav1.ConditionStatus
		reason  string
		message string
	}{
		{"not found", nil, metav1.ConditionFalse, rayv1.HeadPodNotFound, "the head pod does not exist yet"},
		{"image pull", []corev1.Pod{waiting}, metav1.ConditionFalse, "ImagePullBackOff", "no such image"},
		{"terminated", []corev1.Pod{crashed}, metav1.ConditionFalse, "Error", "exit 1"},
		{"unschedulable", []corev1.Pod{unsched}, metav1.ConditionFalse, "Unschedulable", "0/3 nodes"},
		{"unknown", []corev1.Pod{statusPod("head-1", rayv1.HeadNode, corev1.PodRunning, false)}, metav1.ConditionFalse, rayv1.UnknownReason, "the head pod is Running and not ready"},
		{"ready", []corev1.Pod{statusReadyHead()}, metav1.ConditionTrue, rayv1.HeadPodRunningAndReady, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := computeStatus(observed{cluster: statusCluster(0), pods: tt.pods, now: st0})
			c := statusCond(t, st, rayv1.HeadPodReady)
			if c == nil {
				t.Fatal("HeadPodReady missing")
			}
			if c.Status != tt.status || c.Reason != tt.reason || c.Message != tt.message {
				t.Errorf("HeadPodReady = %s/%s/%q, want %s/%s/%q", c.Status, c.Reason, c.Message, tt.status, tt.reason, tt.message)
			}
			if !c.LastTransitionTime.Time.Equal(st0) {
				t.Errorf("lastTransitionTime = %v, want %v", c.LastTransitionTime, st0)
			}
		})
	}
}

func TestComputeStatusProvisionedLatches(t *testing.T) {
	c := statusCluster(2)
	steps := []struct {
		name   string
		pods   []corev1.Pod
		now    time.Time
		status metav1.ConditionStatus
		reason string
		state  rayv1.ClusterState
		since  time.Time
	}{
		{"head only", []corev1.Pod{statusReadyHead()}, st0, metav1.ConditionFalse, rayv1.RayClusterPodsProvisioning, "", st0},
		{"one worker not ready", []corev1.Pod{statusReadyHead(), statusReadyWorker(1), statusPod("w-2", rayv1.WorkerNode, corev1.PodRunning, false)}, st0,
			metav1.ConditionFalse, rayv1.RayClusterPodsProvisioning, "", st0},
		{"all ready", []corev1.Pod{statusReadyHead(), statusReadyWorker(1), statusReadyWorker(2)}, st1, metav1.ConditionTrue, rayv1.AllPodRunningAndReadyFirstTime, rayv1.Ready, st1},
		{"worker lost stays provisioned", []corev1.Pod{statusReadyHead(), statusReadyWorker(1)}, st2, metav1.ConditionTrue, rayv1.AllPodRunningAndReadyFirstTime, rayv1.Ready, st1},
		{"head lost stays provisioned", nil, st2, metav1.ConditionTrue, rayv1.AllPodRunningAndReadyFirstTime, rayv1.Ready, st1},
	}
	for _, s := range steps {
		st := computeStatus(observed{cluster: c, pods: s.pods, now: s.now})
		p := statusCond(t, st, rayv1.RayClusterProvisioned)
		if p == nil || p.Status != s.status || p.Reason != s.reason || !p.LastTransitionTime.Time.Equal(s.since) {
			t.Fatalf("%s: RayClusterProvisioned = %+v, want %s/%s since %v", s.name, p, s.status, s.reason, s.since)
		}
		if st.State != s.state {
			t.Errorf("%s: state = %q, want %q", s.name, st.State, s.state)
		}
		c.Status = st
	}
	if tt := c.Status.StateTransitionTimes[rayv1.Ready]; tt == nil || !tt.Time.Equal(st1) {
		t.Errorf("stateTransitionTimes[ready] = %v, want %v", tt, st1)
	}
}

func TestComputeStatusAllReadyNeedsExactWorkerCount(t *testing.T) {
	// More worker pods than desired (e.g. during a scale down) is not "all ready".
	c := statusCluster(1)
	st := computeStatus(observed{cluster: c, pods: []corev1.Pod{statusReadyHead(), statusReadyWorker(1), statusReadyWorker(2)}, now: st0})
	if p := statusCond(t, st, rayv1.RayClusterProvisioned); p.Status != metav1.ConditionFalse {
		t.Errorf("provisioned with surplus workers: %+v", p)
	}
	if st.State == rayv1.Ready {
		t.Error("state ready with surplus workers")
	}
	// Zero desired workers: the head alone is enough.
	st = computeStatus(observed{cluster: statusCluster(0), pods: []corev1.Pod{statusReadyHead()}, now: st0})
	if st.State != rayv1.Ready {
		t.Errorf("head-only cluster state = %q, want ready", st.State)
	}
}

func TestComputeStatusReplicaFailure(t *testing.T) {
	c := statusCluster(0)
	st := computeStatus(observed{cluster: c, failure: &failure{reason: rayv1.FailedCreateWorkerPod, message: "quota exceeded"}, now: st0})
	f := statusCond(t, st, rayv1.RayClusterReplicaFailure)
	if f == nil || f.Status != metav1.ConditionTrue || f.Reason != rayv1.FailedCreateWorkerPod || f.Message != "quota exceeded" {
		t.Fatalf("ReplicaFailure = %+v", f)
	}
	if st.Reason != "quota exceeded" {
		t.Errorf("reason = %q", st.Reason)
	}
	c.Status = st
	st = computeStatus(observed{cluster: c, now: st1})
	if f := statusCond(t, st, rayv1.RayClusterReplicaFailure); f != nil {
		t.Errorf("ReplicaFailure not cleared: %+v", f)
	}
	if st.Reason != "" {
		t.Errorf("reason not cleared: %q", st.Reason)
	}
}

func TestComputeStatusSuspension(t *testing.T) {
	c := statusCluster(1)
	c.Status = computeStatus(observed{cluster: c, pods: []corev1.Pod{statusReadyHead(), statusReadyWorker(1)}, now: st0})
	if c.Status.State != rayv1.Ready {
		t.Fatalf("setup: state = %q", c.Status.State)
	}
	type want struct {
		suspending, suspended metav1.ConditionStatus // "" = absent
		state                 rayv1.ClusterState
	}
	steps := []struct {
		name                  string
		suspending, suspended bool
		pods                  []corev1.Pod
		now                   time.Time
		want                  want
	}{
		{"suspending", true, false, []corev1.Pod{statusReadyHead()}, st1, want{metav1.ConditionTrue, metav1.ConditionFalse, rayv1.Ready}},
		{"suspended", false, true, nil, st1, want{metav1.ConditionFalse, metav1.ConditionTrue, rayv1.Suspended}},
		{"still suspended", false, true, nil, st2, want{metav1.ConditionFalse, metav1.ConditionTrue, rayv1.Suspended}},
		{"resumed, pods coming", false, false, []corev1.Pod{statusPod("head-1", rayv1.HeadNode, corev1.PodPending, false)}, st2,
			want{metav1.ConditionFalse, metav1.ConditionFalse, ""}},
		{"resumed and ready", false, false, []corev1.Pod{statusReadyHead(), statusReadyWorker(1)}, st2, want{metav1.ConditionFalse, metav1.ConditionFalse, rayv1.Ready}},
	}
	for _, s := range steps {
		st := computeStatus(observed{cluster: c, pods: s.pods, suspending: s.suspending, suspended: s.suspended, now: s.now})
		for _, x := range []struct {
			typ  rayv1.RayClusterConditionType
			want metav1.ConditionStatus
		}{{rayv1.RayClusterSuspending, s.want.suspending}, {rayv1.RayClusterSuspended, s.want.suspended}} {
			got := statusCond(t, st, x.typ)
			if got == nil || got.Status != x.want {
				t.Errorf("%s: %s = %+v, want %s", s.name, x.typ, got, x.want)
			}
		}
		if meta.IsStatusConditionTrue(st.Conditions, string(rayv1.RayClusterSuspending)) &&
			meta.IsStatusConditionTrue(st.Conditions, string(rayv1.RayClusterSuspended)) {
			t.Errorf("%s: suspending and suspended both true", s.name)
		}
		if st.State != s.want.state {
			t.Errorf("%s: state = %q, want %q", s.name, st.State, s.want.state)
		}
		c.Status = st
	}
	if tt := c.Status.StateTransitionTimes[rayv1.Suspended]; tt == nil || !tt.Time.Equal(st1) {
		t.Errorf("stateTransitionTimes[suspended] = %v, want %v (not moved by the repeat)", tt, st1)
	}
	if tt := c.Status.StateTransitionTimes[rayv1.Ready]; tt == nil || !tt.Time.Equal(st2) {
		t.Errorf("stateTransitionTimes[ready] = %v, want %v after resume", tt, st2)
	}
	if p := statusCond(t, c.Status, rayv1.RayClusterSuspended); p.Reason != "Resumed" {
		t.Errorf("suspended reason after resume = %q, want Resumed", p.Reason)
	}
}

func TestComputeStatusNoSuspensionConditionsByDefault(t *testing.T) {
	st := computeStatus(observed{cluster: statusCluster(0), pods: []corev1.Pod{statusReadyHead()}, now: st0})
	for _, typ := range []rayv1.RayClusterConditionType{rayv1.RayClusterSuspending, rayv1.RayClusterSuspended, rayv1.RayClusterReplicaFailure} {
		if statusCond(t, st, typ) != nil {
			t.Errorf("%s set on a plain cluster", typ)
		}
	}
}

func TestComputeStatusLastUpdateTime(t *testing.T) {
	c := statusCluster(1)
	pods := []corev1.Pod{statusReadyHead(), statusReadyWorker(1)}
	svc := statusHeadlessSvc()
	st := computeStatus(observed{cluster: c, pods: pods, headService: svc, now: st0})
	if st.LastUpdateTime == nil || !st.LastUpdateTime.Time.Equal(st0) {
		t.Fatalf("first lastUpdateTime = %v, want %v", st.LastUpdateTime, st0)
	}
	c.Status = st

	// Nothing changed: the status must be identical, lastUpdateTime included.
	again := computeStatus(observed{cluster: c, pods: pods, headService: svc, now: st1})
	if !statusEqual(st, again) || again.LastUpdateTime == nil || !again.LastUpdateTime.Time.Equal(st0) {
		t.Errorf("unchanged reconcile moved the status: lastUpdateTime %v, equal=%v", again.LastUpdateTime, statusEqual(st, again))
	}

	// A worker goes unready: lastUpdateTime moves.
	unready := []corev1.Pod{statusReadyHead(), statusPod("w-1", rayv1.WorkerNode, corev1.PodRunning, false)}
	changed := computeStatus(observed{cluster: c, pods: unready, headService: svc, now: st2})
	if changed.LastUpdateTime == nil || !changed.LastUpdateTime.Time.Equal(st2) {
		t.Errorf("changed reconcile lastUpdateTime = %v, want %v", changed.LastUpdateTime, st2)
	}
	if changed.ReadyWorkerReplicas != 0 || changed.AvailableWorkerReplicas != 1 {
		t.Errorf("ready/available = %d/%d", changed.ReadyWorkerReplicas, changed.AvailableWorkerReplicas)
	}

	// A new generation alone also counts as a change.
	c.Generation = 8
	gen := computeStatus(observed{cluster: c, pods: pods, headService: svc, now: st2})
	if gen.ObservedGeneration != 8 || gen.LastUpdateTime == nil || !gen.LastUpdateTime.Time.Equal(st2) {
		t.Errorf("observedGeneration/lastUpdateTime = %d/%v", gen.ObservedGeneration, gen.LastUpdateTime)
	}
}

func TestComputeStatusDoesNotMutateInput(t *testing.T) {
	c := statusCluster(1)
	c.Status = computeStatus(observed{cluster: c, pods: []corev1.Pod{statusReadyHead()}, now: st0})
	before := c.Status.DeepCopy()
	_ = computeStatus(observed{cluster: c, pods: []corev1.Pod{statusReadyHead(), statusReadyWorker(1)}, failure: &failure{reason: "x", message: "y"}, suspending: true, now: st1})
	if !statusEqual(*before, c.Status) || !c.Status.LastUpdateTime.Equal(before.LastUpdateTime) {
		t.Error("computeStatus mutated the cluster's status")
	}
}
