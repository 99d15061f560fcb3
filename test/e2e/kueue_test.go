//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// Kueue (sigs.k8s.io/kueue, built from the module proxy and installed from
// its own manifests by hack/cluster/kueue.sh) in front of goray's operator,
// as in front of KubeRay's: its webhook suspends labelled RayJobs and
// RayClusters on create, it admits them within a ClusterQueue's quota by
// resuming them (and puts its flavor's node labels into their pod
// templates), and it preempts by suspending again.
const (
	kueueNS       = "e2e-kueue"
	kueueQueue    = "e2e-kueue-lq"
	kueueCQ       = "e2e-kueue-cq"
	kueueFlavor   = "e2e-kueue-flavor"
	kueueQueueKey = "kueue.x-k8s.io/queue-name"
	kueuePrioKey  = "kueue.x-k8s.io/priority-class"
	// The flavor's node label: every node of the test cluster has it; Kueue
	// puts it into the admitted pod templates' nodeSelector.
	kueueNodeLabel, kueueNodeValue = "kubernetes.io/os", "linux"
)

// The queue: 2 CPUs. A RayJob below asks for 1.5 (head 500m, one worker
// 500m and, as Kueue counts it, the submitter's 500m: KubeRay's default
// submitter template), so one fits at a time; the RayCluster asks for 1.
var kueueQueueManifests = fmt.Sprintf(`apiVersion: kueue.x-k8s.io/v1beta2
kind: ResourceFlavor
metadata:
  name: %[1]s
spec:
  nodeLabels:
    %[5]s: %[6]s
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: ClusterQueue
metadata:
  name: %[2]s
spec:
  namespaceSelector: {}
  preemption:
    withinClusterQueue: LowerPriority
  resourceGroups:
  - coveredResources: [cpu, memory]
    flavors:
    - name: %[1]s
      resources:
      - name: cpu
        nominalQuota: "2"
      - name: memory
        nominalQuota: 8Gi
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: LocalQueue
metadata:
  name: %[3]s
  namespace: %[4]s
spec:
  clusterQueue: %[2]s
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata:
  name: e2e-kueue-low
value: 100
---
apiVersion: kueue.x-k8s.io/v1beta2
kind: WorkloadPriorityClass
metadata:
  name: e2e-kueue-high
value: 1000
`, kueueFlavor, kueueCQ, kueueQueue, kueueNS, kueueNodeLabel, kueueNodeValue)

// kueueRayJob is a small RayJob in the queue (1.5 CPUs as Kueue counts it),
// its cluster and submitter deleted ttl seconds after it finished (0 frees
// the nodes for the next one at once; the last one keeps its submitter's
// logs to be read).
func kueueRayJob(name, priorityClass, entrypoint string, ttl int) string {
	prio := ""
	if priorityClass != "" {
		prio = "\n    " + kueuePrioKey + ": " + priorityClass
	}
	return fmt.Sprintf(`apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: %s
  labels:
    %s: %s%s
spec:
  entrypoint: %q
  submissionMode: K8sJobMode
  shutdownAfterJobFinishes: true
  ttlSecondsAfterFinished: %d
  rayClusterSpec:
%s`, name, kueueQueueKey, kueueQueue, prio, entrypoint, ttl, indentBy(kueueClusterSpec, "    "))
}

const kueueClusterSpec = `headGroupSpec:
  rayStartParams: {}
  template:
    spec:
      containers:
      - name: ray-head
        image: goray/goray:dev
        imagePullPolicy: IfNotPresent
        resources:
          requests: {cpu: 500m, memory: 512Mi}
          limits: {cpu: "1", memory: 1Gi}
workerGroupSpecs:
- groupName: workers
  replicas: 1
  minReplicas: 1
  maxReplicas: 1
  rayStartParams:
    num-cpus: "1"
  template:
    spec:
      containers:
      - name: ray-worker
        image: goray/goray:dev
        imagePullPolicy: IfNotPresent
        resources:
          requests: {cpu: 500m, memory: 256Mi}
          limits: {cpu: 500m, memory: 512Mi}
`

// cqGet reads a field of the scenario's ClusterQueue (cluster-scoped).
func cqGet(jsonpath string) string {
	out, _ := kubectlErr("get", "clusterqueue", kueueCQ, "-o", "jsonpath="+jsonpath)
	return strings.TrimSpace(out)
}

func indentBy(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// installKueue runs hack/cluster/kueue.sh install (Kueue's RayJob and
// RayCluster webhooks limited to the scenario's namespace) and uninstalls
// it when the test ends, after the namespace is gone (cleanups run last-in
// first-out: call this before scenarioNS).
func installKueue(t *testing.T, ns string) {
	t.Helper()
	cmd := exec.Command("hack/cluster/kueue.sh", "install")
	cmd.Dir, cmd.Stdout, cmd.Stderr = cluster.Repo, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "KUEUE_NAMESPACES="+ns, "GORAY_CLUSTER_DIR="+cluster.State)
	t.Cleanup(func() {
		if keep {
			return
		}
		if t.Failed() {
			out, _ := kubectlErr("-n", "kueue-system", "logs", "deployment/kueue-controller-manager", "--tail=120")
			fmt.Printf("---- kueue logs ----\n%s", indent(out))
			out, _ = kubectlErr("get", "clusterqueues.kueue.x-k8s.io,workloads.kueue.x-k8s.io", "-A", "-o", "yaml")
			fmt.Printf("---- kueue objects ----\n%s", indent(out))
		}
		start := time.Now()
		if err := run("hack/cluster/kueue.sh", "uninstall"); err != nil {
			t.Errorf("hack/cluster/kueue.sh uninstall: %v", err)
		}
		logStep("TestKueue: Kueue uninstalled (hack/cluster/kueue.sh uninstall)", start)
	})
	if err := cmd.Run(); err != nil {
		t.Fatalf("hack/cluster/kueue.sh install: %v", err)
	}
}

// createSuspended creates an object and checks that it was stored with
// spec.suspend true: Kueue's webhook suspends it on create.
func createSuspended(t *testing.T, ns, manifest string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(cluster.K8sBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"create", "-f", "-", "-o", "jsonpath={.kind}/{.metadata.name} {.spec.suspend}")
	cmd.Stdin = strings.NewReader(manifest)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl create: %v\n%s\n--- manifest:\n%s", err, out, manifest)
	}
	what, suspend, _ := strings.Cut(string(out), " ")
	fmt.Printf("    created %s: spec.suspend=%s\n", what, suspend)
	if suspend != "true" {
		t.Fatalf("%s was created with spec.suspend=%q: Kueue's webhook did not suspend it", what, suspend)
	}
}

// kueueView is what the scenario looks at, read in one call.
type kueueView struct {
	jobs      map[string]*kueueJob
	clusters  map[string]*kueueCluster
	workloads map[string]*kueueWorkload // by owner, "RayJob/name" or "RayCluster/name"
	// pods of each RayJob (its cluster's and its submitter's) and of each
	// RayCluster not made by a RayJob ("RayCluster/name").
	pods map[string][]kueuePod
}

type kueueJob struct {
	suspend            bool
	deployment, status string
	clusterName        string
}

type kueueCluster struct {
	suspend bool
	state   string
	fromJob string
	nodeSel map[string]string // the head template's nodeSelector
}

type kueueWorkload struct {
	name       string
	conditions map[string]kueueCond
}

type kueueCond struct{ status, reason, message string }

type kueuePod struct {
	name, phase string
	nodeSel     map[string]string
	terminating bool
}

func (c kueueCond) String() string { return c.status + "/" + c.reason }

func (w *kueueWorkload) is(cond string) bool { return w != nil && w.conditions[cond].status == "True" }

// admitted counts the RayJobs that run (resumed and not finished).
func (v *kueueView) running() []string {
	var out []string
	for name, j := range v.jobs {
		if !j.suspend && j.deployment != "Complete" && j.deployment != "Failed" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (v *kueueView) String() string {
	var names []string
	for n := range v.jobs {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		j := v.jobs[n]
		wl := v.workloads["RayJob/"+n]
		var conds []string
		if wl != nil {
			for _, c := range []string{"QuotaReserved", "Admitted", "Evicted", "Finished"} {
				if wl.conditions[c].status != "" {
					conds = append(conds, c+"="+wl.conditions[c].String())
				}
			}
		}
		fmt.Fprintf(&b, "%s[suspend=%v %s/%s pods=%d wl=%s] ", n, j.suspend, j.deployment, j.status, len(v.pods[n]), strings.Join(conds, ","))
	}
	for n, c := range v.clusters {
		if c.fromJob == "" {
			fmt.Fprintf(&b, "RayCluster/%s[suspend=%v state=%s pods=%d] ", n, c.suspend, c.state, len(v.pods["RayCluster/"+n]))
		}
	}
	return strings.TrimSpace(b.String())
}

type kueueObj struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name              string            `json:"name"`
		Labels            map[string]string `json:"labels"`
		DeletionTimestamp *string           `json:"deletionTimestamp"`
		OwnerReferences   []struct {
			Kind string `json:"kind"`
			Name string `json:"name"`
		} `json:"ownerReferences"`
	} `json:"metadata"`
	Spec struct {
		Suspend       *bool `json:"suspend"`
		HeadGroupSpec *struct {
			Template struct {
				Spec struct {
					NodeSelector map[string]string `json:"nodeSelector"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"headGroupSpec"`
		NodeSelector map[string]string `json:"nodeSelector"`
	} `json:"spec"`
	Status struct {
		JobDeploymentStatus string `json:"jobDeploymentStatus"`
		JobStatus           string `json:"jobStatus"`
		RayClusterName      string `json:"rayClusterName"`
		State               string `json:"state"`
		Phase               string `json:"phase"`
		Conditions          []struct {
			Type    string `json:"type"`
			Status  string `json:"status"`
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"conditions"`
	} `json:"status"`
}

func readKueueView(t *testing.T, ns string) *kueueView {
	t.Helper()
	out, err := kubectlErr("-n", ns, "get", "rayjobs,rayclusters,workloads.kueue.x-k8s.io,pods", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Items []kueueObj `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("decoding %s: %v", tail(out, 5), err)
	}
	v := &kueueView{jobs: map[string]*kueueJob{}, clusters: map[string]*kueueCluster{}, workloads: map[string]*kueueWorkload{}, pods: map[string][]kueuePod{}}
	var pods []kueueObj
	for _, o := range list.Items {
		switch o.Kind {
		case "RayJob":
			v.jobs[o.Metadata.Name] = &kueueJob{suspend: o.Spec.Suspend != nil && *o.Spec.Suspend,
				deployment: o.Status.JobDeploymentStatus, status: o.Status.JobStatus, clusterName: o.Status.RayClusterName}
		case "RayCluster":
			c := &kueueCluster{suspend: o.Spec.Suspend != nil && *o.Spec.Suspend, state: o.Status.State}
			if o.Metadata.Labels["ray.io/originated-from-crd"] == "RayJob" {
				c.fromJob = o.Metadata.Labels["ray.io/originated-from-cr-name"]
			}
			if o.Spec.HeadGroupSpec != nil {
				c.nodeSel = o.Spec.HeadGroupSpec.Template.Spec.NodeSelector
			}
			v.clusters[o.Metadata.Name] = c
		case "Workload":
			wl := &kueueWorkload{name: o.Metadata.Name, conditions: map[string]kueueCond{}}
			for _, c := range o.Status.Conditions {
				wl.conditions[c.Type] = kueueCond{c.Status, c.Reason, c.Message}
			}
			for _, r := range o.Metadata.OwnerReferences {
				v.workloads[r.Kind+"/"+r.Name] = wl
			}
		case "Pod":
			pods = append(pods, o)
		}
	}
	for _, p := range pods {
		owner := ""
		if c := p.Metadata.Labels["ray.io/cluster"]; c != "" {
			owner = "RayCluster/" + c
			if rc := v.clusters[c]; rc != nil && rc.fromJob != "" {
				owner = rc.fromJob
			} else {
				// A cluster already deleted: its RayJob is in the cluster's name.
				for name, j := range v.jobs {
					if j.clusterName == c || strings.HasPrefix(c, name+"-") {
						owner = name
					}
				}
			}
		} else if j := p.Metadata.Labels["batch.kubernetes.io/job-name"]; j != "" {
			owner = j // the submitter Job is named after its RayJob
		}
		if owner == "" {
			continue
		}
		v.pods[owner] = append(v.pods[owner], kueuePod{name: p.Metadata.Name, phase: p.Status.Phase,
			nodeSel: p.Spec.NodeSelector, terminating: p.Metadata.DeletionTimestamp != nil})
	}
	return v
}

// TestKueue (issue 21): Kueue v0.17.0 with goray's operator. (1) A RayCluster
// labelled with the queue is suspended on create, admitted, runs and holds 1
// of the queue's 2 CPUs; three RayJobs (1.5 CPUs each) created meanwhile
// are suspended, have no pods and wait for quota. (2) Once the RayCluster
// is deleted they run one after another, each admitted (resumed, its pods
// with the flavor's nodeSelector) only when the one before finished, and
// all SUCCEED. (3) A high-priority RayJob preempts a running low-priority
// one: the low one is suspended again, its pods go; the high one SUCCEEDS;
// the low one is admitted again and SUCCEEDS.
func TestKueue(t *testing.T) {
	needOperator(t)
	const ns = kueueNS
	start := time.Now()
	step(t, "install Kueue (hack/cluster/kueue.sh install)", func() { installKueue(t, ns) })
	logStep("TestKueue: Kueue installed", start)
	scenarioNS(t, ns)
	step(t, "ResourceFlavor, ClusterQueue (2 CPUs), LocalQueue, WorkloadPriorityClasses", func() {
		apply(t, kueueQueueManifests)
		waitFor(t, "ClusterQueue active", time.Minute, func() (bool, string) {
			s := cqGet(`{.status.conditions[?(@.type=="Active")].status}`)
			return s == "True", "Active=" + s
		})
	})

	const rc = "kueue-raycluster"
	jobs := []string{"kueue-job-a", "kueue-job-b", "kueue-job-c"}
	phase := time.Now()
	step(t, "a RayCluster in the queue: suspended on create, admitted, ready", func() {
		createSuspended(t, ns, fmt.Sprintf("apiVersion: ray.io/v1\nkind: RayCluster\nmetadata:\n  name: %s\n  labels:\n    %s: %s\nspec:\n%s",
			rc, kueueQueueKey, kueueQueue, indentBy(kueueClusterSpec, "  ")))
		waitFor(t, "RayCluster "+rc+" admitted and ready", 3*time.Minute, func() (bool, string) {
			v := readKueueView(t, ns)
			c := v.clusters[rc]
			wl := v.workloads["RayCluster/"+rc]
			if c == nil || wl == nil {
				return false, fmt.Sprintf("cluster %v workload %v", c != nil, wl != nil)
			}
			return wl.is("Admitted") && !c.suspend && c.state == "ready",
				fmt.Sprintf("admitted=%v suspend=%v state=%q pods=%d", wl.is("Admitted"), c.suspend, c.state, len(v.pods["RayCluster/"+rc]))
		})
		v := readKueueView(t, ns)
		if got := v.clusters[rc].nodeSel[kueueNodeLabel]; got != kueueNodeValue {
			t.Errorf("the admitted RayCluster's head template has nodeSelector %v, want Kueue's flavor label %s=%s", v.clusters[rc].nodeSel, kueueNodeLabel, kueueNodeValue)
		}
		for _, p := range v.pods["RayCluster/"+rc] {
			if p.nodeSel[kueueNodeLabel] != kueueNodeValue {
				t.Errorf("pod %s has nodeSelector %v, want %s=%s from the flavor", p.name, p.nodeSel, kueueNodeLabel, kueueNodeValue)
			}
		}
		if u := cqGet(`{.status.flavorsReservation[0].resources[?(@.name=="cpu")].total}`); u != "1" {
			t.Errorf("the ClusterQueue reserves cpu %q for the RayCluster, want 1", u)
		}
	})
	logStep("TestKueue: RayCluster admitted and ready", phase)

	step(t, "three RayJobs while the RayCluster holds 1 CPU: suspended, no pods, waiting for quota", func() {
		for _, j := range jobs {
			createSuspended(t, ns, kueueRayJob(j, "", "goray-examples pi", 0))
		}
		waitFor(t, "the RayJobs' Workloads pending for quota", 2*time.Minute, func() (bool, string) {
			v := readKueueView(t, ns)
			pending := 0
			for _, j := range jobs {
				wl, job := v.workloads["RayJob/"+j], v.jobs[j]
				if job == nil || !job.suspend || len(v.pods[j]) > 0 || job.clusterName != "" {
					t.Fatalf("RayJob %s runs while the RayCluster holds the quota: %s", j, v)
				}
				if wl != nil && wl.conditions["QuotaReserved"].status == "False" && strings.Contains(wl.conditions["QuotaReserved"].message, "insufficient") &&
					job.deployment == "Suspended" {
					pending++
				}
			}
			return pending == len(jobs), v.String()
		})
	})

	phase = time.Now()
	step(t, "RayCluster deleted: the three RayJobs run one at a time and SUCCEED", func() {
		kubectl(t, "-n", ns, "delete", "raycluster", rc, "--wait=false")
		admittedOrder := []string{}
		admitted := map[string]bool{}
		sawNodeSelector := false
		waitFor(t, "the three RayJobs, one at a time", 8*time.Minute, func() (bool, string) {
			v := readKueueView(t, ns)
			run := v.running()
			if len(run) > 1 {
				t.Fatalf("more than one RayJob admitted at once (the quota holds one): %s", v)
			}
			done := 0
			for _, j := range jobs {
				job := v.jobs[j]
				if job.suspend {
					for _, p := range v.pods[j] {
						t.Fatalf("RayJob %s is suspended but has pod %s (%s): %s", j, p.name, p.phase, v)
					}
				} else if !admitted[j] {
					admitted[j] = true
					admittedOrder = append(admittedOrder, j)
				}
				if job.deployment == "Failed" || (job.deployment == "Complete" && job.status != "SUCCEEDED") {
					t.Fatalf("RayJob %s ended %s/%s: %s", j, job.deployment, job.status, get(ns, "rayjob", j, "{.status.message}"))
				}
				if job.deployment == "Complete" {
					done++
				}
				for _, p := range v.pods[j] {
					if p.nodeSel[kueueNodeLabel] == kueueNodeValue {
						sawNodeSelector = true
					}
				}
			}
			return done == len(jobs), v.String()
		})
		fmt.Printf("    admitted in this order: %v\n", admittedOrder)
		if len(admittedOrder) != len(jobs) {
			t.Errorf("admissions seen %v, want each of the %d RayJobs once, one after another", admittedOrder, len(jobs))
		}
		if !sawNodeSelector {
			t.Errorf("no pod of the RayJobs had the flavor's nodeSelector %s=%s that Kueue puts into the admitted templates", kueueNodeLabel, kueueNodeValue)
		}
	})
	logStep("TestKueue: three RayJobs SUCCEEDED one after another", phase)

	phase = time.Now()
	const low, high = "kueue-low", "kueue-high"
	step(t, "a low-priority RayJob running", func() {
		createSuspended(t, ns, kueueRayJob(low, "e2e-kueue-low", "goray-examples pi && sleep 20 && echo low-done", 60))
		waitFor(t, "RayJob "+low+" RUNNING", 4*time.Minute, func() (bool, string) {
			v := readKueueView(t, ns)
			j := v.jobs[low]
			if j == nil {
				return false, "no RayJob"
			}
			if j.deployment == "Complete" || j.deployment == "Failed" {
				t.Fatalf("RayJob %s ended before it could be preempted: %s", low, v)
			}
			return j.status == "RUNNING", v.String()
		})
	})
	var preempted time.Time
	step(t, "a high-priority RayJob preempts it: the low one is suspended, its pods go", func() {
		createSuspended(t, ns, kueueRayJob(high, "e2e-kueue-high", "goray-examples pi", 0))
		t0 := time.Now()
		waitFor(t, "RayJob "+low+" preempted (suspended, no pods, no cluster)", 3*time.Minute, func() (bool, string) {
			v := readKueueView(t, ns)
			j, wl := v.jobs[low], v.workloads["RayJob/"+low]
			if j.deployment == "Complete" {
				t.Fatalf("RayJob %s finished instead of being preempted: %s", low, v)
			}
			clusterLeft := false
			for _, c := range v.clusters {
				clusterLeft = clusterLeft || c.fromJob == low
			}
			evicted := wl.is("Preempted") || (wl != nil && wl.conditions["Evicted"].status == "True" && wl.conditions["Evicted"].reason == "Preempted")
			if evicted && preempted.IsZero() {
				preempted = time.Now()
			}
			return j.suspend && j.deployment == "Suspended" && len(v.pods[low]) == 0 && !clusterLeft && (evicted || !wl.is("QuotaReserved")),
				fmt.Sprintf("evicted(Preempted)=%v cluster left=%v %s", evicted, clusterLeft, v)
		})
		fmt.Printf("    the low-priority RayJob's pods were gone %.1fs after the high-priority one was created\n", time.Since(t0).Seconds())
		if preempted.IsZero() {
			out, _ := kubectlErr("-n", ns, "get", "events", "--field-selector", "involvedObject.kind=Workload", "-o", "custom-columns=REASON:.reason,MESSAGE:.message")
			if !strings.Contains(out, "Preempted") {
				t.Errorf("the low-priority RayJob's Workload shows no preemption (condition Evicted/Preempted or event); events:\n%s", out)
			}
		}
	})
	step(t, "the high-priority RayJob SUCCEEDS, then the low one is admitted again and SUCCEEDS", func() {
		var highDone bool
		waitFor(t, "both RayJobs", 6*time.Minute, func() (bool, string) {
			v := readKueueView(t, ns)
			h, l := v.jobs[high], v.jobs[low]
			if run := v.running(); len(run) > 1 {
				t.Fatalf("both RayJobs admitted at once: %s", v)
			}
			for _, j := range []string{high, low} {
				if d, s := v.jobs[j].deployment, v.jobs[j].status; d == "Failed" || (d == "Complete" && s != "SUCCEEDED") {
					t.Fatalf("RayJob %s ended %s/%s: %s", j, d, s, get(ns, "rayjob", j, "{.status.message}"))
				}
			}
			if h.deployment == "Complete" {
				highDone = true
			} else if l.deployment == "Complete" || !l.suspend {
				t.Fatalf("the low-priority RayJob was admitted again before the high-priority one finished: %s", v)
			}
			return highDone && l.deployment == "Complete", v.String()
		})
		if logs := submitterLogs(ns, low); !strings.Contains(logs, "low-done") {
			t.Errorf("the low-priority RayJob's submitter logs lack the end of its entrypoint:\n%s", indent(tail(logs, 10)))
		}
	})
	logStep("TestKueue: preemption, then both RayJobs SUCCEEDED", phase)
	logStep("TestKueue: total", start)
}
