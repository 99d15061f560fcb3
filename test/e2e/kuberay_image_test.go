//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// kubeRaySample is KubeRay's ray-cluster.sample.yaml byte for byte (image
// rayproject/ray:2.52.0 in both groups). Its requests — head 1 CPU / 5Gi,
// worker 1 CPU / 1Gi — fit the test cluster as they are: each of its two
// nodes offers the machine's 2 CPUs, so the head goes beside the operator
// and CoreDNS (150m) on one node and the worker to the other, or both fit
// where there is room. Nothing is scaled.
const kubeRaySample = "test/e2e/testdata/kuberay/ray-cluster.sample.yaml"

// runtimeImage is the image the operator runs in place of Ray's: the
// chart's default goray/goray:<appVersion>, which needOperator pins to the
// locally loaded goray/goray:dev.
const runtimeImage = "goray/goray:dev"

// TestKubeRaySample: KubeRay's sample RayCluster, applied unchanged, runs:
// its head and worker pods run goray's runtime image in place of
// rayproject/ray:2.52.0 with the sample's resources and ports, become
// Running and Ready, the worker joins the head (`goray status`), the
// operator says what it substituted in a RuntimeImageSubstituted event, and
// a job submitted to the head SUCCEEDS.
func TestKubeRaySample(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-kuberay", "raycluster-kuberay"
	step(t, "the sample is KubeRay's, unchanged", func() {
		ours, err := os.ReadFile(filepath.Join(cluster.Repo, kubeRaySample))
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := os.ReadFile(filepath.Join(cluster.Repo, "api/v1/testdata/kuberay-samples/ray-cluster.sample.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ours, theirs) || !strings.Contains(string(ours), "image: rayproject/ray:2.52.0") {
			t.Fatalf("%s is not KubeRay's ray-cluster.sample.yaml (api/v1/testdata/kuberay-samples) as it is", kubeRaySample)
		}
	})
	scenarioNS(t, ns)

	start := time.Now()
	step(t, "apply KubeRay's ray-cluster.sample.yaml", func() {
		applyFile(t, ns, kubeRaySample)
	})
	step(t, "RayCluster ready (head + 1 worker Running and Ready)", func() {
		waitFor(t, "RayCluster "+name, 5*time.Minute, func() (bool, string) {
			state := get(ns, "raycluster", name, "{.status.state}")
			ready := get(ns, "raycluster", name, "{.status.readyWorkerReplicas}")
			if time.Since(start) > 45*time.Second {
				failOnWorkerJoinError(t, ns, name)
			}
			return state == "ready" && ready == "1", fmt.Sprintf("state=%q readyWorkerReplicas=%q", state, ready)
		})
	})
	logStep("TestKubeRaySample: cluster ready", start)

	step(t, "the pods run goray's image with the sample's resources", func() {
		for _, nodeType := range []string{"head", "worker"} {
			sel := "ray.io/cluster=" + name + ",ray.io/node-type=" + nodeType
			out := kubectl(t, "-n", ns, "get", "pods", "-l", sel, "-o",
				`jsonpath={range .items[*]}{.metadata.name} {.spec.containers[0].image} {.status.containerStatuses[0].ready} {.spec.containers[0].resources.requests.cpu} {.spec.containers[0].resources.requests.memory} {.metadata.annotations.goray\.dev/runtime-image-replaces}{"\n"}{end}`)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 1 {
				t.Fatalf("%s pods: %q", nodeType, out)
			}
			f := strings.Fields(lines[0])
			container := "ray-" + nodeType
			mem := map[string]string{"head": "5Gi", "worker": "1Gi"}[nodeType]
			want := []string{f[0], runtimeImage, "true", "1", mem, container + "=rayproject/ray:2.52.0"}
			if strings.Join(f, " ") != strings.Join(want, " ") {
				t.Errorf("%s pod: %q, want %q", nodeType, f, want)
			}
		}
		headPorts := kubectl(t, "-n", ns, "get", "pods", "-l", "ray.io/cluster="+name+",ray.io/node-type=head", "-o",
			`jsonpath={range .items[0].spec.containers[0].ports[*]}{.name}={.containerPort} {end}`)
		for _, p := range []string{"gcs-server=6379", "dashboard=8265", "client=10001"} {
			if !strings.Contains(headPorts, p) {
				t.Errorf("head ports %q lack the sample's %s", headPorts, p)
			}
		}
	})

	step(t, "a RuntimeImageSubstituted event names the containers and images", func() {
		waitFor(t, "RuntimeImageSubstituted events", time.Minute, func() (bool, string) {
			out, _ := kubectlErr("-n", ns, "get", "events", "--field-selector=reason=RuntimeImageSubstituted,involvedObject.name="+name,
				"-o", `jsonpath={range .items[*]}{.message}{"\n"}{end}`)
			for _, c := range []string{"ray-head", "ray-worker"} {
				if !strings.Contains(out, "container "+c+" runs "+runtimeImage+" in place of rayproject/ray:2.52.0") {
					return false, fmt.Sprintf("events: %q", out)
				}
			}
			return true, ""
		})
	})

	head := headPod(t, ns, name)
	step(t, "goray status in the head lists 1 head + 1 worker", func() {
		waitFor(t, "nodes in goray status", 2*time.Minute, func() (bool, string) {
			h, w, _, err := clusterNodes(ns, head)
			if err != nil {
				return false, err.Error()
			}
			return h == 1 && w == 1, fmt.Sprintf("%d head, %d workers", h, w)
		})
	})

	step(t, "a job submitted to the head SUCCEEDS", func() {
		cmd := exec.Command(filepath.Join(cluster.K8sBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig, "-n", ns,
			"exec", head, "-c", "ray-head", "--", "goray", "job", "submit", "--", "goray-examples", "pi")
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Minute):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("goray job submit did not return in 5 min:\n%s", out)
		}
		fmt.Print(indent(tail(string(out), 6)))
		if err != nil || !strings.Contains(string(out), "pi ≈ 3.1") || !strings.Contains(string(out), "' succeeded") {
			t.Fatalf("goray job submit: %v\n%s", err, out)
		}
	})
	logStep("TestKubeRaySample: sample ready and a job run (total)", start)
}
