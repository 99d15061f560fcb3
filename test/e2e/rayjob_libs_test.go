//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// workerPodIPs maps a cluster's worker pods' IPs to their names.
func workerPodIPs(t *testing.T, ns, clusterName string) map[string]string {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=worker",
		"-o", `jsonpath={range .items[*]}{.status.podIP} {.metadata.name}{"\n"}{end}`)
	pods := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if ip, name, ok := strings.Cut(l, " "); ok && ip != "" {
			pods[ip] = name
		}
	}
	return pods
}

// tasksByPod asks the head's state API (`goray list nodes|tasks` in the
// head pod) which node ran each task of the cluster and counts, per pod
// (by the node's IP, "head" for the head), the tasks whose name matches;
// and per "name on pod".
func tasksByPod(t *testing.T, ns, head string, workers map[string]string, name *regexp.Regexp) (map[string]int, map[string]int) {
	t.Helper()
	list := func(what string) []map[string]any {
		out := kubectl(t, "-n", ns, "exec", head, "-c", "ray-head", "--", "goray", "list", what, "--format", "json", "--limit", "10000")
		var rows []map[string]any
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("goray list %s: %v\n%s", what, err, out)
		}
		return rows
	}
	nodePod := map[string]string{}
	for _, n := range list("nodes") {
		id, _ := n["node_id"].(string)
		ip, _ := n["node_ip"].(string)
		switch {
		case n["is_head_node"] == true:
			nodePod[id] = "head"
		case workers[ip] != "":
			nodePod[id] = workers[ip]
		default:
			nodePod[id] = "node " + ip
		}
	}
	byPod, byName := map[string]int{}, map[string]int{}
	for _, task := range list("tasks") {
		n, _ := task["name"].(string)
		if !name.MatchString(n) {
			continue
		}
		id, _ := task["node_id"].(string)
		pod := nodePod[id]
		if pod == "" {
			pod = "unknown node " + id
		}
		byPod[pod]++
		byName[n+" on "+pod]++
	}
	return byPod, byName
}

func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// TestRayJobDataPipeline (issue 18): the batch-inference RayJob sample runs
// goray Data's batch inference example on a head (no CPUs) and two worker
// pods sharing a hostPath folder: the program makes its model and Parquet
// dataset there, scores it on an actor pool, checks every score against the
// model and prints a summary the test asserts; the head's task history
// shows that the pipeline's tasks ran on both worker pods and none on the
// head; the dataset and the scores are files in the shared folder.
func TestRayJobDataPipeline(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-rayjob-data", "rayjob-batch-inference"
	scenarioNS(t, ns)
	// The sample's hostPath, moved under the cluster's state folder and
	// removed afterwards (the pods write it as user 65532: root removes it).
	dataDir := filepath.Join(cluster.State, "e2e-data", ns)
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !keep {
			_ = os.RemoveAll(filepath.Dir(dataDir))
		}
	})
	b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-job.batch-inference.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := string(b)
	if n := strings.Count(manifest, "path: /tmp/goray-data,"); n != 2 {
		t.Fatalf("the sample has %d hostPath volumes at /tmp/goray-data, want 2 (head, workers)", n)
	}
	manifest = strings.ReplaceAll(manifest, "path: /tmp/goray-data,", "path: "+dataDir+",")

	start := time.Now()
	applyNS(t, ns, manifest)
	var clusterName string
	var workers map[string]string
	step(t, "job RUNNING on a cluster of a head and 2 worker pods", func() {
		waitFor(t, "RayJob "+name+" RUNNING", 5*time.Minute, func() (bool, string) {
			job := get(ns, "rayjob", name, "{.status.jobStatus}")
			dep := get(ns, "rayjob", name, "{.status.jobDeploymentStatus}")
			return job == "RUNNING" || dep == "Complete" || dep == "Failed", fmt.Sprintf("jobDeploymentStatus=%q jobStatus=%q", dep, job)
		})
		clusterName = get(ns, "rayjob", name, "{.status.rayClusterName}")
		workers = workerPodIPs(t, ns, clusterName)
		if len(workers) != 2 {
			t.Fatalf("worker pods (IP → name): %v, want 2", workers)
		}
	})
	var deployment, job string
	step(t, "RayJob ends (jobDeploymentStatus Complete|Failed)", func() {
		deployment, job = waitJobEnd(t, ns, name, 4*time.Minute)
	})
	logStep("TestRayJobDataPipeline: apply → Complete", start)
	logs := submitterLogs(ns, name)
	fmt.Printf("    submitter logs:\n%s", indent(indent(logs)))
	requireSucceeded(t, ns, name, deployment, job)
	done := regexp.MustCompile(`batch-inference: 20000 rows scored into (/data/batch-inference/scores-\d+), every score matches the model \(mean score 0\.\d{4}\)`)
	m := done.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("the submitter's logs lack the program's check line (%s)", done)
	}
	for _, want := range []string{"wrote 20000 rows of features to /data/batch-inference/features", "MapBatches(batchinference.score)->WriteParquet"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the submitter's logs lack %q", want)
		}
	}

	step(t, "the pipeline's tasks ran on both worker pods, none on the head", func() {
		// The cluster lives on for ttlSecondsAfterFinished (60 s).
		head := headPod(t, ns, clusterName)
		byPod, byName := tasksByPod(t, ns, head, workers, regexp.MustCompile(`^goray\.data\.`))
		fmt.Printf("    goray Data tasks and actor calls per pod: %s\n    by name: %s\n", counts(byPod), counts(byName))
		// Read, write and check tasks (goray.data.run) on each worker pod
		// and the pool's calls on at least one.
		pool := 0
		for _, pod := range workers {
			if byName["goray.data.run on "+pod] == 0 {
				t.Errorf("no goray Data task (goray.data.run) ran on worker pod %s", pod)
			}
			pool += byName["goray.data.pool.run on "+pod]
		}
		if pool == 0 {
			t.Errorf("no call of the scoring pool (goray.data.pool.run) ran on a worker pod")
		}
		if byPod["head"] > 0 {
			t.Errorf("%d goray Data tasks ran on the head, which has no CPUs", byPod["head"])
		}
	})

	step(t, "the dataset and the scores are in the shared folder", func() {
		dir := filepath.Join(dataDir, "batch-inference")
		count := func(sub string) int {
			files, _ := filepath.Glob(filepath.Join(dir, sub, "*.parquet"))
			return len(files)
		}
		scores := strings.TrimPrefix(m[1], "/data/batch-inference/")
		if in, out := count("features"), count(scores); in != 8 || out == 0 {
			t.Errorf("%s: %d feature files (want 8), %d score files in %s", dir, in, out, scores)
		}
		if _, err := os.Stat(filepath.Join(dir, "model.json")); err != nil {
			t.Error(err)
		}
	})
	logStep("TestRayJobDataPipeline: total", start)
}

// TestRayJobTuneAutoscaler (issue 19): the Tune RayJob sample runs a seeded
// experiment on an autoscaling cluster whose head has no CPUs and whose
// worker group starts at 0: the cluster comes up with no worker pod; once
// the job runs, its trials' actors are pending demands of {CPU: 1} and the
// autoscaler raises the group's replicas 0 → 2 for them (its log says so),
// the worker pods come and join after the job started (the head's log), and
// the trials run on them; the job ends Complete/SUCCEEDED with the best
// trial's line (fixed by the seed) in its logs; after the idle timeout the
// autoscaler takes the workers back to 0 while the cluster still exists.
func TestRayJobTuneAutoscaler(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-rayjob-tune", "rayjob-tune-autoscaler"
	scenarioNS(t, ns)
	start := time.Now()
	applyFile(t, ns, "config/samples/ray-job.tune-autoscaler.yaml")

	// Watch from the start until the job ends: the head, the worker pods
	// and the group's replicas (the autoscaler's decision).
	var (
		clusterName, head      string
		deployment, job        string
		maxRunning, maxReplica int
		sawZero                bool // the head Running, no worker pod
		firstWorker            time.Duration
		workers                = map[string]string{} // every worker pod seen Running, IP → name
	)
	step(t, "cluster up with 0 workers; the autoscaler adds workers for the trials; the job ends", func() {
		waitFor(t, "RayJob "+name+" end", 5*time.Minute, func() (bool, string) {
			if clusterName == "" {
				clusterName = get(ns, "rayjob", name, "{.status.rayClusterName}")
				return false, "no RayCluster yet"
			}
			if head == "" {
				out, _ := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=head",
					"--field-selector=status.phase=Running", "-o", "jsonpath={.items[*].metadata.name}")
				head = strings.TrimSpace(out)
			}
			running, all := workerPods(ns, clusterName)
			replicas := get(ns, "raycluster", clusterName, "{.spec.workerGroupSpecs[0].replicas}")
			r, _ := strconv.Atoi(replicas)
			maxReplica = max(maxReplica, r)
			if head != "" && all == 0 && maxRunning == 0 {
				sawZero = true
			}
			if running > 0 && maxRunning == 0 {
				firstWorker = time.Since(start)
			}
			maxRunning = max(maxRunning, running)
			if running > 0 {
				for ip, pod := range workerPodIPs(t, ns, clusterName) {
					workers[ip] = pod
				}
			}
			deployment = get(ns, "rayjob", name, "{.status.jobDeploymentStatus}")
			job = get(ns, "rayjob", name, "{.status.jobStatus}")
			return deployment == "Complete" || deployment == "Failed",
				fmt.Sprintf("head %q, %d/%d worker pods running, replicas %s; jobDeploymentStatus=%q jobStatus=%q", head, running, all, replicas, deployment, job)
		})
	})
	fmt.Printf("    first worker Running %.1fs after apply; up to %d worker pods running, replicas up to %d\n", firstWorker.Seconds(), maxRunning, maxReplica)
	logStep("TestRayJobTuneAutoscaler: apply → Complete", start)
	logs := submitterLogs(ns, name)
	fmt.Printf("    submitter logs:\n%s", indent(indent(logs)))
	requireSucceeded(t, ns, name, deployment, job)
	if !sawZero || maxRunning < 2 || maxReplica < 2 {
		t.Errorf("worker pods: none while the head ran: %v; then up to %d running, replicas up to %d; want 0, then 2 for the 2 concurrent trials",
			sawZero, maxRunning, maxReplica)
	}

	step(t, "the autoscaler scaled up for the pending trials, after the job started", func() {
		asLogs := kubectl(t, "-n", ns, "logs", head, "-c", "autoscaler")
		ups := scaleUp.FindAllStringSubmatch(asLogs, -1)
		target := 0
		for _, up := range ups {
			fmt.Printf("    autoscaler: %s\n", up[0])
			n, _ := strconv.Atoi(up[2])
			target = max(target, n)
		}
		if len(ups) == 0 || ups[0][1] != "0" || target < 2 {
			t.Errorf("the autoscaler's log does not show the worker group scaled up from 0 to 2 for {CPU=1} demands (%s):\n%s", scaleUp, indent(asLogs))
		}
		// In the head's log the job starts before any worker node registers.
		headLogs := kubectl(t, "-n", ns, "logs", head, "-c", "ray-head")
		jobAt := strings.Index(headLogs, "job "+job0(headLogs)+" running")
		workerAt := strings.Index(headLogs, `type "workers"`)
		if jobAt < 0 || workerAt < 0 || workerAt < jobAt {
			t.Errorf("the head's log does not show the job running before a worker node registered:\n%s", indent(headLogs))
		}
	})

	step(t, "the trials ran on the added worker pods", func() {
		byPod, _ := tasksByPod(t, ns, head, workers, regexp.MustCompile(`^goray\.tune\.Runner\.run$`))
		fmt.Printf("    trial runs per pod: %s\n", counts(byPod))
		used := 0
		for _, pod := range workers {
			if byPod[pod] > 0 {
				used++
			}
		}
		if used < 2 || byPod["head"] > 0 {
			t.Errorf("trial runs per pod: %s; want runs on 2 worker pods and none on the head", counts(byPod))
		}
	})
	// The seed fixes the trials' configs, so the best trial and its score.
	const best = "tune: best trial trial_00000: x=4.2467 score=-1.2989 after 10 iterations (6 trials, all TERMINATED"
	if !strings.Contains(logs, best) || !strings.Contains(logs, "Trial status: 6 TERMINATED") {
		t.Errorf("the submitter's logs lack the best trial's line %q", best)
	}

	down := time.Now()
	step(t, "workers scale back to 0 after the idle timeout (cluster still there)", func() {
		waitFor(t, "worker pods gone", 80*time.Second, func() (bool, string) {
			if _, err := kubectlErr("-n", ns, "get", "raycluster", clusterName); err != nil {
				t.Fatalf("the RayCluster was deleted (ttlSecondsAfterFinished) before its workers scaled down")
			}
			_, all := workerPods(ns, clusterName)
			replicas := get(ns, "raycluster", clusterName, "{.spec.workerGroupSpecs[0].replicas}")
			return all == 0 && replicas == "0", fmt.Sprintf("%d worker pods, replicas %s", all, replicas)
		})
	})
	logStep("TestRayJobTuneAutoscaler: job end → 0 workers", down)
	logStep("TestRayJobTuneAutoscaler: total", start)
}

// scaleUp is the autoscaler's log line for a scale-up of the worker group
// for demands of one CPU (from, to).
var scaleUp = regexp.MustCompile(`patched: scale up workers (\d+)→(\d+) for \d+ node\(s\) for \{CPU=1\}`)

var jobSubmitted = regexp.MustCompile(`job (\S+) submitted: "goray-examples tune"`)

// job0 is the submission id of the tune job in a head's log.
func job0(headLogs string) string {
	if m := jobSubmitted.FindStringSubmatch(headLogs); m != nil {
		return m[1]
	}
	return "(no tune job submitted)"
}
