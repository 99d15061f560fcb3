package desired

import (
	"encoding/json"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// Batch schedulers the operator's --batch-scheduler flag (Helm value
// batchScheduler.name) accepts. The names are KubeRay's, so a values file
// written for KubeRay keeps working, plus goray's own kube-scheduler.
const (
	// BatchSchedulerKube gang-schedules with the kube-scheduler itself
	// (KEP-4671: scheduling.k8s.io/v1beta1 Workload and PodGroup, the
	// GenericWorkload feature gate): the operator creates the group and
	// points every pod of the cluster at it.
	BatchSchedulerKube = "kube-scheduler"
	// BatchSchedulerYuniKorn and BatchSchedulerKAI need nothing but pod
	// metadata: their schedulers build the gang from it (YuniKorn from the
	// task-group annotations, KAI's pod grouper from the pods' owner).
	BatchSchedulerYuniKorn = "yunikorn"
	BatchSchedulerKAI      = "kai-scheduler"
	// BatchSchedulerVolcano and BatchSchedulerPlugins gang-schedule through
	// PodGroup custom resources of their own projects, which goray does not
	// create: the operator refuses them at startup rather than run every
	// pod through those schedulers one by one.
	BatchSchedulerVolcano = "volcano"
	BatchSchedulerPlugins = "scheduler-plugins"
)

// Labels a RayCluster opts in with, and the scheduler-specific labels
// copied to its pods (KubeRay's keys).
const (
	// GangSchedulingLabel "true" asks for gang scheduling (KubeRay's label
	// for YuniKorn, scheduler-plugins and the Kubernetes Workload API).
	GangSchedulingLabel = "ray.io/gang-scheduling-enabled"
	// SchedulerNameLabel naming the operator's batch scheduler opts in too
	// (KubeRay's Volcano-era label).
	SchedulerNameLabel = "ray.io/scheduler-name"

	YuniKornAppIDLabel         = "yunikorn.apache.org/app-id"
	YuniKornQueueLabel         = "yunikorn.apache.org/queue"
	yuniKornPodAppIDLabel      = "applicationId"
	yuniKornPodQueueLabel      = "queue"
	YuniKornTaskGroupNameKey   = "yunikorn.apache.org/task-group-name"
	YuniKornTaskGroupsKey      = "yunikorn.apache.org/task-groups"
	KAIQueueLabel              = "kai.scheduler/queue"
	enableBatchSchedulerLegacy = BatchSchedulerVolcano
)

// ResolveBatchScheduler checks the --batch-scheduler and
// --enable-batch-scheduler flags and returns the scheduler to run with (""
// for none). As in KubeRay, --enable-batch-scheduler alone means Volcano.
func ResolveBatchScheduler(name string, legacyEnabled bool) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" && legacyEnabled {
		name = enableBatchSchedulerLegacy
	}
	switch name {
	case "", BatchSchedulerKube, BatchSchedulerYuniKorn, BatchSchedulerKAI:
		return name, nil
	case BatchSchedulerVolcano, BatchSchedulerPlugins:
		return "", fmt.Errorf("batch scheduler %q is not supported by goray: its gang scheduling needs %s's PodGroup custom resource, which goray does not create; use %q (the kube-scheduler's own gang scheduling, Kubernetes 1.37 with the GenericWorkload feature gate), %q or %q",
			name, name, BatchSchedulerKube, BatchSchedulerYuniKorn, BatchSchedulerKAI)
	}
	return "", fmt.Errorf("unknown batch scheduler %q: one of %q, %q, %q", name, BatchSchedulerKube, BatchSchedulerYuniKorn, BatchSchedulerKAI)
}

// GangScheduled is true for a cluster whose pods the kube-scheduler places
// all or none: the operator runs with the kube-scheduler batch scheduler and
// the cluster opted in, by ray.io/gang-scheduling-enabled=true or by naming
// the scheduler in ray.io/scheduler-name. Opt-in per cluster, as in KubeRay:
// a cluster that did not ask keeps pod-by-pod scheduling.
func GangScheduled(c *rayv1.RayCluster, batchScheduler string) bool {
	if batchScheduler != BatchSchedulerKube {
		return false
	}
	return strings.EqualFold(c.Labels[GangSchedulingLabel], "true") || c.Labels[SchedulerNameLabel] == BatchSchedulerKube
}

// applyBatchScheduler adds what the operator's batch scheduler needs on a
// pod of the cluster: the scheduling group (kube-scheduler), or the
// scheduler name and labels or annotations KubeRay sets for YuniKorn and KAI.
func applyBatchScheduler(c *rayv1.RayCluster, pod *corev1.Pod, group, batchScheduler string) {
	switch batchScheduler {
	case BatchSchedulerKube:
		if GangScheduled(c, batchScheduler) {
			name := PodGroupName(c)
			pod.Spec.SchedulingGroup = &corev1.PodSchedulingGroup{PodGroupName: &name}
		}
	case BatchSchedulerKAI:
		pod.Spec.SchedulerName = BatchSchedulerKAI
		copyLabel(c, pod, KAIQueueLabel, KAIQueueLabel)
	case BatchSchedulerYuniKorn:
		pod.Spec.SchedulerName = BatchSchedulerYuniKorn
		copyLabel(c, pod, YuniKornAppIDLabel, yuniKornPodAppIDLabel)
		copyLabel(c, pod, YuniKornQueueLabel, yuniKornPodQueueLabel)
		if _, ok := c.Labels[GangSchedulingLabel]; ok {
			// YuniKorn reserves the task groups' resources before it binds
			// any pod of the application: every pod carries all groups and
			// names its own.
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[YuniKornTaskGroupsKey] = YuniKornTaskGroups(c)
			pod.Annotations[YuniKornTaskGroupNameKey] = group
		}
	}
}

func copyLabel(c *rayv1.RayCluster, pod *corev1.Pod, from, to string) {
	if v, ok := c.Labels[from]; ok {
		pod.Labels[to] = v
	}
}

// yuniKornTaskGroup is one entry of YuniKorn's task-groups annotation.
type yuniKornTaskGroup struct {
	Name         string                       `json:"name"`
	MinMember    int32                        `json:"minMember"`
	MinResource  map[string]resource.Quantity `json:"minResource"`
	NodeSelector map[string]string            `json:"nodeSelector,omitempty"`
	Tolerations  []corev1.Toleration          `json:"tolerations,omitempty"`
	Affinity     *corev1.Affinity             `json:"affinity,omitempty"`
}

// YuniKornTaskGroups is the task-groups annotation of a cluster: the head
// (one member) and each worker group (minReplicas × numOfHosts members),
// with one pod's requests as minResource.
func YuniKornTaskGroups(c *rayv1.RayCluster) string {
	groups := []yuniKornTaskGroup{taskGroup(rayv1.HeadGroupName, 1, &c.Spec.HeadGroupSpec.Template.Spec)}
	for i := range c.Spec.WorkerGroupSpecs {
		g := &c.Spec.WorkerGroupSpecs[i]
		groups = append(groups, taskGroup(g.GroupName, minGangWorkers(g), &g.Template.Spec))
	}
	b, err := json.Marshal(groups)
	if err != nil {
		return "[]" // only plain maps and API types above: cannot fail
	}
	return string(b)
}

func taskGroup(name string, members int32, spec *corev1.PodSpec) yuniKornTaskGroup {
	return yuniKornTaskGroup{
		Name: name, MinMember: members, MinResource: PodRequests(spec),
		NodeSelector: spec.NodeSelector, Tolerations: spec.Tolerations, Affinity: spec.Affinity,
	}
}

// PodRequests is what one pod of the spec asks the scheduler for: the sum
// of its containers' requests (a limit stands in for a missing request, as
// the API server defaults it), or the largest init container's when that is
// more, plus the pod overhead.
func PodRequests(spec *corev1.PodSpec) map[string]resource.Quantity {
	sum := map[string]resource.Quantity{}
	add := func(to map[string]resource.Quantity, ct *corev1.Container) {
		for name, q := range ct.Resources.Limits {
			if _, ok := ct.Resources.Requests[name]; !ok {
				addQuantity(to, string(name), q)
			}
		}
		for name, q := range ct.Resources.Requests {
			addQuantity(to, string(name), q)
		}
	}
	for i := range spec.Containers {
		add(sum, &spec.Containers[i])
	}
	for i := range spec.InitContainers {
		init := map[string]resource.Quantity{}
		add(init, &spec.InitContainers[i])
		for name, q := range init {
			if cur, ok := sum[name]; !ok || q.Cmp(cur) > 0 {
				sum[name] = q
			}
		}
	}
	for name, q := range spec.Overhead {
		addQuantity(sum, string(name), q)
	}
	return sum
}

func addQuantity(m map[string]resource.Quantity, name string, q resource.Quantity) {
	cur := m[name]
	cur.Add(q)
	m[name] = cur
}

// BatchSchedulerNames are the accepted --batch-scheduler values, for help texts.
func BatchSchedulerNames() []string {
	return []string{BatchSchedulerKube, BatchSchedulerYuniKorn, BatchSchedulerKAI}
}
