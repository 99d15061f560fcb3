//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestGangScheduling: the operator runs with --batch-scheduler=kube-scheduler
// (needOperator) and the kube-scheduler gang-schedules what it is given.
// Sizes come from the nodes' free CPU at run time, counted in "slots" of
// one pod's request: s slots in all.
//
//  1. "fits" (gang, head + 1 worker: 2 slots) runs whole.
//  2. "plain" (no gang, s-1 pods) alongside it starts partially: s-2 pods
//     placed, one Pending — the failure gang scheduling prevents, shown
//     here so that step 3 can fail.
//  3. "big" (gang, the same s-1 pods) alongside "fits": no pod is placed
//     at all, for a bounded wait.
//  4. "fits" deleted: "big" is placed, every pod at once.
func TestGangScheduling(t *testing.T) {
	needOperator(t)
	if out, _ := kubectlErr("api-resources", "--api-group=scheduling.k8s.io", "-o", "name"); !strings.Contains(out, "podgroups.scheduling.k8s.io") {
		t.Fatalf("the test cluster does not serve scheduling.k8s.io PodGroups (%q): it was started without --feature-gates=GenericWorkload=true; restart it (hack/cluster/down.sh && hack/cluster/up.sh)", out)
	}
	const ns = "gang-e2e"
	scenarioNS(t, ns)

	slot, slots := gangSlots(t)
	t.Logf("a pod requests %dm CPU; the nodes have room for %d", slot, slots)
	cluster := func(name string, gang bool, pods int) string {
		label := ""
		if gang {
			label = "\n  labels: {ray.io/gang-scheduling-enabled: \"true\"}"
		}
		res := fmt.Sprintf("{requests: {cpu: %dm, memory: 32Mi}, limits: {cpu: %dm, memory: 256Mi}}", slot, slot)
		return fmt.Sprintf(`apiVersion: ray.io/v1
kind: RayCluster
metadata:
  name: %s%s
spec:
  headGroupSpec:
    rayStartParams: {}
    template:
      spec:
        containers:
        - {name: ray-head, image: goray/goray:dev, imagePullPolicy: IfNotPresent, resources: %s}
  workerGroupSpecs:
  - groupName: workers
    replicas: %d
    minReplicas: %d
    maxReplicas: %d
    rayStartParams: {}
    template:
      spec:
        containers:
        - {name: ray-worker, image: goray/goray:dev, imagePullPolicy: IfNotPresent, resources: %s}
`, name, label, res, pods-1, pods-1, pods-1, res)
	}

	// 1. A gang that fits runs whole, its pods in the operator's PodGroup.
	applyNS(t, ns, cluster("fits", true, 2))
	waitFor(t, "fits: 2 pods Running", 3*time.Minute, func() (bool, string) {
		running, placed, all := gangPods(ns, "fits")
		return running == 2 && all == 2, fmt.Sprintf("%d running, %d placed, %d pods", running, placed, all)
	})
	if got := get(ns, "podgroup", "fits", "{.spec.schedulingPolicy.gang.minCount}"); got != "2" {
		t.Fatalf("PodGroup fits: minCount %q, want 2", got)
	}
	if got := kubectl(t, "-n", ns, "get", "pods", "-l", "ray.io/cluster=fits", "-o", "jsonpath={.items[*].spec.schedulingGroup.podGroupName}"); got != "fits fits" {
		t.Fatalf("pods of fits name groups %q", got)
	}

	// 2. Without gang scheduling the same shape starts partially.
	n := slots - 1
	applyNS(t, ns, cluster("plain", false, n))
	waitFor(t, fmt.Sprintf("plain: %d of %d pods placed, the rest Pending", n-1, n), 2*time.Minute, func() (bool, string) {
		running, placed, all := gangPods(ns, "plain")
		return placed == n-1 && all == n && running >= 1, fmt.Sprintf("%d running, %d placed, %d pods", running, placed, all)
	})
	kubectl(t, "-n", ns, "delete", "raycluster", "plain", "--wait=true")
	waitFor(t, "plain's pods gone", 2*time.Minute, func() (bool, string) {
		_, _, all := gangPods(ns, "plain")
		return all == 0, fmt.Sprintf("%d pods", all)
	})

	// 3. The gang of the same shape: all n pods exist, none is placed.
	applyNS(t, ns, cluster("big", true, n))
	waitFor(t, fmt.Sprintf("big: %d pods created", n), time.Minute, func() (bool, string) {
		_, placed, all := gangPods(ns, "big")
		if placed > 0 {
			t.Fatalf("big: %d of its pods placed while it does not fit whole", placed)
		}
		return all == n, fmt.Sprintf("%d pods", all)
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if _, placed, _ := gangPods(ns, "big"); placed > 0 {
			t.Fatalf("big: %d of its %d pods placed while only %d fit: the gang started partially", placed, n, n-1)
		}
		time.Sleep(time.Second)
	}

	// 4. Room for the whole gang: it is placed.
	kubectl(t, "-n", ns, "delete", "raycluster", "fits", "--wait=true")
	waitFor(t, fmt.Sprintf("big: %d pods Running", n), 3*time.Minute, func() (bool, string) {
		running, placed, all := gangPods(ns, "big")
		return running == n && all == n, fmt.Sprintf("%d running, %d placed, %d pods", running, placed, all)
	})
	if got := get(ns, "podgroup", "big", `{.status.conditions[?(@.type=="PodGroupInitiallyScheduled")].status}`); got != "True" {
		t.Errorf("PodGroup big: PodGroupInitiallyScheduled %q, want True", got)
	}
}

// gangPods counts a cluster's live pods: Running, placed on a node, all.
func gangPods(ns, clusterName string) (running, placed, all int) {
	out, err := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName, "-o", "json")
	if err != nil {
		return 0, 0, -1
	}
	var list corev1.PodList
	if json.Unmarshal([]byte(out), &list) != nil {
		return 0, 0, -1
	}
	for _, p := range list.Items {
		if p.DeletionTimestamp != nil {
			continue
		}
		all++
		if p.Spec.NodeName != "" {
			placed++
		}
		if p.Status.Phase == corev1.PodRunning {
			running++
		}
	}
	return running, placed, all
}

// gangSlots picks one pod's CPU request (millicores) so that the nodes'
// free CPU holds at least 3 such pods (and, with the request about a third
// of the total, few more), and returns it with the number of pods that fit.
func gangSlots(t *testing.T) (milli int64, slots int) {
	t.Helper()
	free := freeCPU(t)
	var total int64
	for _, f := range free {
		total += f
	}
	for milli = total / 3; milli >= 50; milli = milli * 9 / 10 {
		slots = 0
		for _, f := range free {
			slots += int(f / milli)
		}
		if slots >= 3 {
			return milli, slots
		}
	}
	t.Fatalf("the nodes have %v millicores of CPU free: too little for the scenario", free)
	return 0, 0
}

// freeCPU is each schedulable node's allocatable CPU minus the requests of
// the pods placed on it (millicores).
func freeCPU(t *testing.T) map[string]int64 {
	t.Helper()
	var nodes corev1.NodeList
	if err := json.Unmarshal([]byte(kubectl(t, "get", "nodes", "-o", "json")), &nodes); err != nil {
		t.Fatal(err)
	}
	free := map[string]int64{}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			ready = ready || (c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue)
		}
		if ready && !n.Spec.Unschedulable && len(n.Spec.Taints) == 0 {
			free[n.Name] = n.Status.Allocatable.Cpu().MilliValue()
		}
	}
	var pods corev1.PodList
	if err := json.Unmarshal([]byte(kubectl(t, "get", "pods", "-A", "-o", "json")), &pods); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if _, ok := free[p.Spec.NodeName]; !ok || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		var req resource.Quantity
		for _, c := range p.Spec.Containers {
			req.Add(*c.Resources.Requests.Cpu())
		}
		for _, c := range p.Spec.InitContainers {
			if c.Resources.Requests.Cpu().Cmp(req) > 0 {
				req = c.Resources.Requests.Cpu().DeepCopy()
			}
		}
		free[p.Spec.NodeName] -= req.MilliValue()
	}
	return free
}
