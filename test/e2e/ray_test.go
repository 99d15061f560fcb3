//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The operator is installed once, with the Helm chart and the locally
// imported images, by the first scenario that needs it.
const (
	operatorNS      = "goray-system"
	operatorRelease = "goray-operator"
)

var (
	operatorOnce sync.Once
	operatorErr  error
)

// helmBin finds helm the way test/helm does: $HELM, bin/helm, the
// hack/helm.sh cache; else builds it with hack/helm.sh (~2.5 min, once).
func helmBin() (string, error) {
	if p := os.Getenv("HELM"); p != "" {
		return p, nil
	}
	out, err := output("hack/helm.sh")
	return strings.TrimSpace(out), err
}

func helm(args ...string) (string, error) {
	bin, err := helmBin()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(bin, append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
	cmd.Dir = cluster.Repo
	tmp, _ := os.MkdirTemp("", "goray-e2e-helm")
	defer os.RemoveAll(tmp)
	cmd.Env = append(os.Environ(), "HELM_CONFIG_HOME="+tmp, "HELM_CACHE_HOME="+tmp, "HELM_DATA_HOME="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// needOperator installs charts/goray-operator (image goray/operator:dev,
// pullPolicy Never) and waits for its Deployment.
func needOperator(t *testing.T) {
	t.Helper()
	if !loadedImages["goray/operator:dev"] || !loadedImages["goray/goray:dev"] {
		t.Skip("goray/operator:dev or goray/goray:dev was not packed")
	}
	operatorOnce.Do(func() {
		start := time.Now()
		args := []string{"upgrade", "--install", operatorRelease, "charts/goray-operator",
			"--namespace", operatorNS, "--create-namespace",
			"--set", "image.pullPolicy=Never", "--set", "image.tag=dev", "--set", "runtimeImage.tag=dev",
			"--set", "resources.requests.cpu=50m", "--set", "resources.requests.memory=64Mi",
			// Gang scheduling for the clusters that opt in (gang_test.go).
			"--set", "batchScheduler.name=kube-scheduler",
			// On the first node: TestNodeLoss loses the second one, and an
			// operator there would be gone until Kubernetes evicts its pod
			// (5 minutes of not-ready toleration), leaving RayJob statuses
			// unwatched.
			"--set", `nodeSelector.kubernetes\.io/hostname=` + node1Name,
			"--wait", "--timeout", "3m"}
		// GORAY_E2E_HELM_VALUES: an extra values file for the operator chart
		// (e.g. rbac.extraRules while diagnosing).
		if f := os.Getenv("GORAY_E2E_HELM_VALUES"); f != "" {
			fmt.Println("    NOTE: GORAY_E2E_HELM_VALUES=" + f)
			args = append(args, "-f", f)
		}
		_, operatorErr = helm(args...)
		if operatorErr == nil {
			// A new image under the same tag: restart so the pods run it.
			_, operatorErr = kubectlErr("-n", operatorNS, "rollout", "restart", "deployment/"+operatorRelease)
		}
		if operatorErr == nil {
			_, operatorErr = kubectlErr("-n", operatorNS, "rollout", "status", "deployment/"+operatorRelease, "--timeout=120s")
		}
		logStep("helm install goray-operator (charts/goray-operator)", start)
		if operatorErr != nil {
			dumpNamespace(operatorNS)
		}
	})
	if operatorErr != nil {
		t.Fatalf("installing the operator: %v", operatorErr)
	}
}

// scenarioNS creates a fresh namespace, deleted (with its objects) at the end.
func scenarioNS(t *testing.T, ns string) {
	t.Helper()
	kubectlErr("delete", "namespace", ns, "--wait=true", "--timeout=120s") // leftover of an aborted run
	kubectl(t, "create", "namespace", ns)
	t.Cleanup(func() {
		if t.Failed() {
			dumpNamespace(ns)
			dumpOperator()
		}
		if keep {
			return
		}
		if _, err := kubectlErr("delete", "namespace", ns, "--wait=true", "--timeout=180s"); err != nil {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	})
}

// applyFile applies a repo file into a namespace, server-side (as the docs say).
func applyFile(t *testing.T, ns, file string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cluster.Repo, file))
	if err != nil {
		t.Fatal(err)
	}
	applyNS(t, ns, string(b))
}

func applyNS(t *testing.T, ns, manifest string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(cluster.K8sBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig, "-n", ns, "apply", "--server-side", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n--- manifest:\n%s", err, out, manifest)
	}
}

// waitFor polls cond every second until it returns true or the timeout passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		if state != last {
			fmt.Printf("    %s: %s\n", what, state)
			last = state
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last state: %s", timeout, what, state)
		}
		time.Sleep(time.Second)
	}
}

func get(ns, kind, name, jsonpath string) string {
	out, _ := kubectlErr("-n", ns, "get", kind, name, "-o", "jsonpath="+jsonpath)
	return strings.TrimSpace(out)
}

func headPod(t *testing.T, ns, clusterName string) string {
	t.Helper()
	var pod string
	waitFor(t, "head pod of "+clusterName, 3*time.Minute, func() (bool, string) {
		out, _ := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=head",
			"--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
		f := strings.Fields(out)
		if len(f) == 1 {
			pod = f[0]
			return true, ""
		}
		return false, fmt.Sprintf("running head pods %q", f)
	})
	return pod
}

var aliveNode = regexp.MustCompile(`(?m)^ 1 node_\S+ \((head|worker), `)

// clusterNodes runs `goray status` in the head pod and counts the alive nodes.
func clusterNodes(ns, pod string) (heads, workers int, out string, err error) {
	out, err = kubectlErr("-n", ns, "exec", pod, "-c", "ray-head", "--", "goray", "status")
	active, _, _ := strings.Cut(out, "Dead:")
	for _, m := range aliveNode.FindAllStringSubmatch(active, -1) {
		if m[1] == "head" {
			heads++
		} else {
			workers++
		}
	}
	return heads, workers, out, err
}

// countObjects counts a cluster's pods and services (by the ray.io/cluster label).
func countObjects(ns, clusterName string) (pods, svcs int) {
	p, _ := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName, "-o", "name")
	s, _ := kubectlErr("-n", ns, "get", "services", "-l", "ray.io/cluster="+clusterName, "-o", "name")
	return len(strings.Fields(p)), len(strings.Fields(s))
}

// TestRayCluster: (a) the basic sample becomes ready with its two workers
// joined to the head, as `goray status` in the head pod shows; (b) deleting
// the RayCluster garbage-collects its pods and services.
func TestRayCluster(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-raycluster", "raycluster-sample"
	scenarioNS(t, ns)

	start := time.Now()
	step(t, "apply config/samples/ray-cluster.sample.yaml", func() {
		applyFile(t, ns, "config/samples/ray-cluster.sample.yaml")
	})
	step(t, "RayCluster ready (head + 2 workers Running)", func() {
		waitFor(t, "RayCluster "+name, 5*time.Minute, func() (bool, string) {
			state := get(ns, "raycluster", name, "{.status.state}")
			ready := get(ns, "raycluster", name, "{.status.readyWorkerReplicas}")
			if time.Since(start) > 45*time.Second {
				failOnWorkerJoinError(t, ns, name)
			}
			return state == "ready" && ready == "2", fmt.Sprintf("state=%q readyWorkerReplicas=%q", state, ready)
		})
	})
	head := headPod(t, ns, name)
	step(t, "goray status in the head lists 1 head + 2 workers", func() {
		var out string
		waitFor(t, "nodes in goray status", 2*time.Minute, func() (bool, string) {
			h, w, o, err := clusterNodes(ns, head)
			out = o
			if err != nil {
				return false, err.Error()
			}
			return h == 1 && w == 2, fmt.Sprintf("%d head, %d workers", h, w)
		})
		fmt.Print(indent(out))
	})
	logStep("TestRayCluster: cluster ready, 1+2 nodes joined (total)", start)

	step(t, "the head's services", func() {
		if _, svcs := countObjects(ns, name); svcs == 0 {
			t.Errorf("no services labelled ray.io/cluster=%s", name)
		}
	})

	start = time.Now()
	step(t, "delete RayCluster: pods and services garbage-collected", func() {
		kubectl(t, "-n", ns, "delete", "raycluster", name, "--wait=true", "--timeout=120s")
		waitFor(t, "pods and services of "+name, 2*time.Minute, func() (bool, string) {
			p, s := countObjects(ns, name)
			return p == 0 && s == 0, fmt.Sprintf("%d pods, %d services left", p, s)
		})
	})
	logStep("TestRayCluster: delete → everything gone", start)
}

// failOnWorkerJoinError fails at once, naming the cause, when workers crash
// because the head's GCS does not answer on the pod IP.
func failOnWorkerJoinError(t *testing.T, ns, clusterName string) {
	t.Helper()
	logs, _ := kubectlErr("-n", ns, "logs", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=worker", "--tail=3", "--prefix")
	for _, l := range strings.Split(logs, "\n") {
		if strings.Contains(l, "register with GCS") && strings.Contains(l, "connection refused") {
			head, _ := kubectlErr("-n", ns, "logs", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=head", "--tail=20")
			t.Fatalf("workers cannot reach the head's GCS: %s\nThe head listens on (its logs):\n%s"+
				"(the operator defaults rayStartParams node-ip-address to $(RAY_POD_IP); goray start --head binds 127.0.0.1 without it)", strings.TrimSpace(l), indent(head))
		}
	}
}

// dumpNamespace prints what helps to understand a failure: objects, events,
// RayJob/RayCluster status, pod logs.
func dumpNamespace(ns string) {
	fmt.Printf("---- namespace %s ----\n", ns)
	for _, args := range [][]string{
		{"get", "rayclusters,rayjobs,rayservices,pods,services,jobs", "-o", "wide"},
		{"get", "events", "--sort-by=.lastTimestamp"},
		{"get", "rayjobs,rayclusters", "-o", "yaml"},
	} {
		out, err := kubectlErr(append([]string{"-n", ns}, args...)...)
		fmt.Print(indent(out))
		if err != nil {
			fmt.Print(indent(err.Error()))
		}
	}
	// What the runtime itself says, from every head.
	heads, _ := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/node-type=head", "-o", "name")
	for _, h := range strings.Fields(heads) {
		for _, args := range [][]string{{"goray", "status"}, {"goray", "job", "list"}} {
			out, err := kubectlErr(append([]string{"-n", ns, "exec", h, "-c", "ray-head", "--"}, args...)...)
			fmt.Printf("---- %s: %s ----\n%s", h, strings.Join(args, " "), indent(out))
			if err != nil {
				fmt.Print(indent(err.Error()))
			}
		}
	}
	pods, _ := kubectlErr("-n", ns, "get", "pods", "-o", "name")
	for _, p := range strings.Fields(pods) {
		out, _ := kubectlErr("-n", ns, "logs", p, "--all-containers", "--tail=80")
		fmt.Printf("---- logs %s/%s ----\n%s", ns, p, indent(out))
	}
}

func dumpOperator() {
	out, _ := kubectlErr("-n", operatorNS, "logs", "deployment/"+operatorRelease, "--tail=150")
	fmt.Printf("---- operator logs ----\n%s", indent(out))
}
