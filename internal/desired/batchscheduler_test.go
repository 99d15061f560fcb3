package desired

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestResolveBatchScheduler(t *testing.T) {
	for _, tc := range []struct {
		name    string
		legacy  bool
		want    string
		wantErr string
	}{
		{"", false, "", ""},
		{"kube-scheduler", false, "kube-scheduler", ""},
		{" yunikorn ", false, "yunikorn", ""},
		{"kai-scheduler", false, "kai-scheduler", ""},
		{"kai-scheduler", true, "kai-scheduler", ""}, // a name wins over the legacy switch, as in KubeRay
		{"volcano", false, "", "PodGroup custom resource"},
		{"scheduler-plugins", false, "", "PodGroup custom resource"},
		{"", true, "", `"volcano" is not supported`}, // --enable-batch-scheduler alone means Volcano
		{"Volcano2", false, "", "unknown batch scheduler"},
	} {
		got, err := ResolveBatchScheduler(tc.name, tc.legacy)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q legacy=%v: %v", tc.name, tc.legacy, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q legacy=%v: error %v, want one containing %q", tc.name, tc.legacy, err, tc.wantErr)
		case got != tc.want:
			t.Errorf("%q legacy=%v: %q, want %q", tc.name, tc.legacy, got, tc.want)
		}
	}
	// Refusals name the schedulers that do work.
	_, err := ResolveBatchScheduler("volcano", false)
	for _, n := range BatchSchedulerNames() {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("refusal %q does not name %s", err, n)
		}
	}
}

func TestGangScheduledIsOptInPerCluster(t *testing.T) {
	for _, tc := range []struct {
		scheduler string
		labels    map[string]string
		want      bool
	}{
		{BatchSchedulerKube, nil, false},
		{BatchSchedulerKube, map[string]string{GangSchedulingLabel: "true"}, true},
		{BatchSchedulerKube, map[string]string{GangSchedulingLabel: "True"}, true},
		{BatchSchedulerKube, map[string]string{GangSchedulingLabel: "false"}, false},
		{BatchSchedulerKube, map[string]string{SchedulerNameLabel: "kube-scheduler"}, true},
		{BatchSchedulerKube, map[string]string{SchedulerNameLabel: "volcano"}, false},
		{"", map[string]string{GangSchedulingLabel: "true"}, false},
		{BatchSchedulerYuniKorn, map[string]string{GangSchedulingLabel: "true"}, false},
	} {
		c := testCluster()
		c.Labels = tc.labels
		if got := GangScheduled(c, tc.scheduler); got != tc.want {
			t.Errorf("scheduler %q labels %v: %v, want %v", tc.scheduler, tc.labels, got, tc.want)
		}
	}
}

func TestPodsPointAtTheClusterPodGroup(t *testing.T) {
	c := testCluster()
	c.Labels = map[string]string{GangSchedulingLabel: "true"}
	c.Spec.WorkerGroupSpecs[0].NumOfHosts = 2
	opts := PodOptions{BatchScheduler: BatchSchedulerKube}
	head := HeadPod(c, opts)
	worker := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{BatchScheduler: BatchSchedulerKube, ReplicaName: "small-abcde", HostIndex: 1})
	for _, p := range []*corev1.Pod{head, worker} {
		sg := p.Spec.SchedulingGroup
		if sg == nil || sg.PodGroupName == nil || *sg.PodGroupName != PodGroupName(c) {
			t.Errorf("%s pod: schedulingGroup %+v, want podGroupName %s", p.Labels[rayv1.RayNodeTypeLabelKey], sg, PodGroupName(c))
		}
		if p.Spec.SchedulerName != "" {
			t.Errorf("schedulerName %q: the default scheduler does the gang", p.Spec.SchedulerName)
		}
	}
	// Not opted in, or another scheduler: no group (a pod naming a group
	// that is never created would wait forever).
	c.Labels = nil
	if sg := HeadPod(c, opts).Spec.SchedulingGroup; sg != nil {
		t.Errorf("cluster without the label: schedulingGroup %+v", sg)
	}
	c.Labels = map[string]string{GangSchedulingLabel: "true"}
	if sg := HeadPod(c, PodOptions{}).Spec.SchedulingGroup; sg != nil {
		t.Errorf("operator without a batch scheduler: schedulingGroup %+v", sg)
	}
}

func TestKAIAndYuniKornPodMetadata(t *testing.T) {
	c := testCluster()
	c.Labels = map[string]string{KAIQueueLabel: "team-a", YuniKornAppIDLabel: "app-1", YuniKornQueueLabel: "root.ray"}
	kai := HeadPod(c, PodOptions{BatchScheduler: BatchSchedulerKAI})
	if kai.Spec.SchedulerName != "kai-scheduler" || kai.Labels[KAIQueueLabel] != "team-a" {
		t.Errorf("KAI: schedulerName %q, queue label %q", kai.Spec.SchedulerName, kai.Labels[KAIQueueLabel])
	}
	yk := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{BatchScheduler: BatchSchedulerYuniKorn})
	if yk.Spec.SchedulerName != "yunikorn" || yk.Labels["applicationId"] != "app-1" || yk.Labels["queue"] != "root.ray" {
		t.Errorf("YuniKorn: schedulerName %q, labels %v", yk.Spec.SchedulerName, yk.Labels)
	}
	if _, ok := yk.Annotations[YuniKornTaskGroupsKey]; ok {
		t.Error("YuniKorn without the gang label: task groups set")
	}
	if yk.Spec.SchedulingGroup != nil || kai.Spec.SchedulingGroup != nil {
		t.Error("a schedulingGroup for another scheduler")
	}

	c.Labels[GangSchedulingLabel] = "true"
	c.Spec.WorkerGroupSpecs[0].NumOfHosts = 2
	c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{
		Requests: limits("cpu", "500m"), Limits: limits("cpu", "1", "memory", "1Gi"),
	}
	yk = WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{BatchScheduler: BatchSchedulerYuniKorn})
	if yk.Annotations[YuniKornTaskGroupNameKey] != "small" {
		t.Errorf("task group name %q", yk.Annotations[YuniKornTaskGroupNameKey])
	}
	var groups []yuniKornTaskGroup
	if err := json.Unmarshal([]byte(yk.Annotations[YuniKornTaskGroupsKey]), &groups); err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].Name != "headgroup" || groups[0].MinMember != 1 || groups[1].Name != "small" || groups[1].MinMember != 2 {
		t.Fatalf("task groups %+v: want headgroup×1, small×(1 replica × 2 hosts)", groups)
	}
	cpu, mem := groups[1].MinResource["cpu"], groups[1].MinResource["memory"]
	if cpu.Cmp(resource.MustParse("500m")) != 0 || mem.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("minResource %v: want the request (500m CPU) and the limit standing in for the missing memory request", groups[1].MinResource)
	}
}

func TestPodRequests(t *testing.T) {
	spec := &corev1.PodSpec{
		Containers: []corev1.Container{
			{Resources: corev1.ResourceRequirements{Requests: limits("cpu", "250m", "memory", "100Mi")}},
			{Resources: corev1.ResourceRequirements{Requests: limits("cpu", "250m")}},
		},
		InitContainers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: limits("cpu", "2", "memory", "10Mi")}}},
		Overhead:       limits("memory", "20Mi"),
	}
	got := PodRequests(spec)
	for name, want := range map[string]string{"cpu": "2", "memory": "120Mi"} {
		if q := got[name]; q.Cmp(resource.MustParse(want)) != 0 {
			t.Errorf("%s = %s, want %s", name, q.String(), want)
		}
	}
}
