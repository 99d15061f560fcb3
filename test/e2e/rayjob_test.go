//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// waitJobEnd waits for a RayJob's jobDeploymentStatus to be Complete or
// Failed and returns it with the jobStatus.
func waitJobEnd(t *testing.T, ns, name string, timeout time.Duration) (deployment, job string) {
	t.Helper()
	waitFor(t, "RayJob "+name, timeout, func() (bool, string) {
		deployment = get(ns, "rayjob", name, "{.status.jobDeploymentStatus}")
		job = get(ns, "rayjob", name, "{.status.jobStatus}")
		return deployment == "Complete" || deployment == "Failed",
			fmt.Sprintf("jobDeploymentStatus=%q jobStatus=%q", deployment, job)
	})
	return deployment, job
}

// requireSucceeded fails the test unless the RayJob ended
// Complete/SUCCEEDED (waitJobEnd's results), with the RayJob's message.
func requireSucceeded(t *testing.T, ns, name, deployment, job string) {
	t.Helper()
	if deployment != "Complete" || job != "SUCCEEDED" {
		t.Fatalf("RayJob ended jobDeploymentStatus=%q jobStatus=%q, want Complete/SUCCEEDED; message: %s", deployment, job,
			get(ns, "rayjob", name, "{.status.message}"))
	}
}

// submitterLogs reads the logs of the RayJob's submitter Kubernetes Job.
func submitterLogs(ns, name string) string {
	out, err := kubectlErr("-n", ns, "logs", "job/"+name, "--tail=-1")
	if err != nil {
		return err.Error()
	}
	return out
}

// TestRayJob (c): the sample RayJob (K8sJobMode) creates its cluster, runs
// `goray-examples pi`, ends Complete/SUCCEEDED with the result in the
// submitter's logs, and its cluster is deleted afterwards
// (shutdownAfterJobFinishes, with the sample's ttlSecondsAfterFinished cut
// to 5 s).
func TestRayJob(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-rayjob", "rayjob-sample"
	scenarioNS(t, ns)

	b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-job.sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The sample's TTL (60 s) cut to 5 s: the same cleanup, a minute less
	// of CI (the submitter Job, whose logs are read, stays).
	manifest := strings.Replace(string(b), "ttlSecondsAfterFinished: 60", "ttlSecondsAfterFinished: 5", 1)
	if manifest == string(b) {
		t.Fatal("the sample no longer has ttlSecondsAfterFinished: 60")
	}
	start := time.Now()
	applyNS(t, ns, manifest)
	var deployment, job string
	step(t, "RayJob ends (jobDeploymentStatus Complete|Failed)", func() {
		deployment, job = waitJobEnd(t, ns, name, 6*time.Minute)
	})
	logStep("TestRayJob: sample job done (apply → Complete)", start)
	logs := submitterLogs(ns, name)
	fmt.Printf("    submitter logs:\n%s", indent(indent(logs)))
	requireSucceeded(t, ns, name, deployment, job)
	if !strings.Contains(logs, "pi ≈ 3.1") {
		t.Errorf("the submitter's logs do not hold the result (pi ≈ 3.1...)")
	}
	clusterName := get(ns, "rayjob", name, "{.status.rayClusterName}")
	step(t, "the job's RayCluster is deleted after ttlSecondsAfterFinished", func() {
		waitFor(t, "RayCluster "+clusterName+" deleted", 3*time.Minute, func() (bool, string) {
			_, err := kubectlErr("-n", ns, "get", "raycluster", clusterName)
			p, _ := countObjects(ns, clusterName)
			return err != nil && p == 0, fmt.Sprintf("raycluster present=%v, %d pods", err == nil, p)
		})
	})
}

// TestRayJobWorkerDeleted (d): a worker pod deleted while the job runs; the
// job still ends SUCCEEDED (tasks retried, the operator replaces the pod).
func TestRayJobWorkerDeleted(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-rayjob-kill", "rayjob-kill-worker"
	scenarioNS(t, ns)
	b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-job.sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Same job, longer: pi twelve times, one second apart, so that a worker
	// can be deleted in the middle.
	manifest := strings.Replace(string(b), "name: rayjob-sample", "name: "+name, 1)
	manifest = strings.Replace(manifest, "entrypoint: goray-examples pi",
		`entrypoint: "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do goray-examples pi || exit 1; sleep 1; done; echo all-runs-done"`, 1)
	manifest = strings.Replace(manifest, "replicas: 1\n", "replicas: 2\n", 1)
	start := time.Now()
	applyNS(t, ns, manifest)

	var clusterName string
	step(t, "job RUNNING", func() {
		waitFor(t, "RayJob "+name+" RUNNING", 5*time.Minute, func() (bool, string) {
			job := get(ns, "rayjob", name, "{.status.jobStatus}")
			dep := get(ns, "rayjob", name, "{.status.jobDeploymentStatus}")
			if dep == "Complete" || dep == "Failed" {
				t.Fatalf("RayJob ended (%s/%s) before a worker could be deleted", dep, job)
			}
			return job == "RUNNING", fmt.Sprintf("jobDeploymentStatus=%q jobStatus=%q", dep, job)
		})
		clusterName = get(ns, "rayjob", name, "{.status.rayClusterName}")
	})
	step(t, "delete a worker pod mid-job", func() {
		time.Sleep(3 * time.Second)
		out := kubectl(t, "-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=worker", "-o", "jsonpath={.items[0].metadata.name}")
		pod := strings.TrimSpace(out)
		if pod == "" {
			t.Fatal("no worker pod")
		}
		kubectl(t, "-n", ns, "delete", "pod", pod, "--wait=false")
		fmt.Printf("    deleted worker pod %s\n", pod)
	})
	var deployment, job string
	step(t, "RayJob ends", func() {
		deployment, job = waitJobEnd(t, ns, name, 4*time.Minute)
	})
	logStep("TestRayJobWorkerDeleted: job with a worker deleted done", start)
	logs := submitterLogs(ns, name)
	fmt.Printf("    submitter logs (tail):\n%s", indent(indent(tail(logs, 20))))
	requireSucceeded(t, ns, name, deployment, job)
	if !strings.Contains(logs, "all-runs-done") {
		t.Errorf("the submitter's logs do not show the end of the job")
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}
