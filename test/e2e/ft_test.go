//go:build e2e

package e2e

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The password of test/e2e/testdata/redis.yaml's Secret.
const redisPassword = "5241590000000000"

const (
	node1Name = "goray-e2e-node"
	node2Name = "goray-e2e-node-2"
)

// startRedis applies test/e2e/testdata/redis.yaml (Secret, Deployment of
// goray/redis:dev, Service redis) and waits for Redis to answer.
func startRedis(t *testing.T, ns string) {
	t.Helper()
	if !loadedImages["goray/redis:dev"] {
		t.Skip("goray/redis:dev was not packed")
	}
	applyFile(t, ns, "test/e2e/testdata/redis.yaml")
	kubectl(t, "-n", ns, "rollout", "status", "deployment/redis", "--timeout=120s")
	waitFor(t, "redis PING", time.Minute, func() (bool, string) {
		out, err := redisCLI(ns, "ping")
		return err == nil && strings.TrimSpace(out) == "PONG", fmt.Sprintf("%q %v", out, err)
	})
}

// redisCLI runs Debian's redis-cli inside the Redis pod.
func redisCLI(ns string, args ...string) (string, error) {
	return kubectlErr(append([]string{"-n", ns, "exec", "deployment/redis", "--", "redis-cli", "--no-auth-warning", "-a", redisPassword}, args...)...)
}

// redisKeys lists the keys of a GCS storage namespace (RAY<namespace>@...).
func redisKeys(t *testing.T, ns, storageNS string) []string {
	t.Helper()
	out, err := redisCLI(ns, "--scan", "--pattern", "RAY"+storageNS+"@*")
	if err != nil {
		t.Fatalf("redis-cli --scan: %v", err)
	}
	return strings.Fields(out)
}

var loadResult = regexp.MustCompile(`load: result ok=(\d+) failed=(\d+) ratio=([0-9.]+) seconds=([0-9.]+)(.*)`)

// TestGCSFaultTolerance (issue 16, acceptance 5): a RayService whose cluster
// keeps its GCS in the in-cluster Redis (gcsFaultToleranceOptions: address,
// password from a Secret). Its head pod is deleted while a pod in the cluster
// sends closed-loop HTTP load to the serve Service: ≥ 99.9% of the requests
// succeed, the RayService stays Ready on the same cluster, a finished RayJob
// on that cluster keeps its status (in its CR and in the new head's job API).
// Deleting the RayService deletes the cluster: the cleanup Job runs and
// succeeds and the namespace's Redis keys are gone.
func TestGCSFaultTolerance(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-gcs-ft", "rayservice-ft"
	scenarioNS(t, ns)
	// Runs before the namespace goes (cleanups run last-in first-out): the
	// cluster's cleanup Job needs Redis, which goes with the namespace.
	t.Cleanup(func() {
		if _, err := kubectlErr("-n", ns, "delete", "rayservice", "--all", "--wait=false"); err == nil {
			waitFor(t, "RayClusters of "+ns+" gone", 4*time.Minute, func() (bool, string) {
				out, _ := kubectlErr("-n", ns, "get", "raycluster", "-o", "name")
				return strings.TrimSpace(out) == "", out
			})
		}
	})
	start := time.Now()
	step(t, "Redis (goray/redis:dev: Debian's redis-server) answers", func() { startRedis(t, ns) })
	logStep("TestGCSFaultTolerance: redis up", start)

	applyNS(t, ns, fmt.Sprintf(`
apiVersion: ray.io/v1
kind: RayService
metadata:
  name: %s
spec:
  # KubeRay's high-availability setup: traffic through the workers' proxies.
  excludeHeadPodFromServeSvc: true
  serveConfigV2: |
    applications:
      - name: hello
        route_prefix: /
        import_path: hello
        runtime_env:
          binary: /usr/local/bin/goray-examples
        deployments:
          - name: Hello
            num_replicas: 2
            user_config:
              greeting: "Hello from goray serve!"
          - name: Echo
            num_replicas: 1
            user_config:
              message: hello
  rayClusterConfig:
    gcsFaultToleranceOptions:
      redisAddress: "redis:6379"
      redisPassword:
        valueFrom:
          secretKeyRef: {name: redis-password-secret, key: password}
    headGroupSpec:
      rayStartParams:
        num-cpus: "0"
      template:
        spec:
          containers:
          - name: ray-head
            image: goray/goray:dev
            imagePullPolicy: IfNotPresent
            resources:
              requests: {cpu: 300m, memory: 512Mi}
              limits: {cpu: "1", memory: 1Gi}
    workerGroupSpecs:
    - groupName: workers
      replicas: 2
      minReplicas: 2
      maxReplicas: 2
      rayStartParams:
        # Serve replicas take 0.1 CPU each: 2 per worker leaves whole CPUs for the job's tasks.
        num-cpus: "2"
      template:
        spec:
          containers:
          - name: ray-worker
            image: goray/goray:dev
            imagePullPolicy: IfNotPresent
            resources:
              requests: {cpu: 200m, memory: 256Mi}
              limits: {cpu: 500m, memory: 512Mi}
`, name))
	var clusterName, storageNS, svc string
	step(t, "RayService Ready on a cluster with gcsFaultToleranceOptions", func() {
		waitFor(t, "RayService "+name, 6*time.Minute, func() (bool, string) {
			ready := get(ns, "rayservice", name, `{.status.conditions[?(@.type=="Ready")].status}`)
			return ready == "True", fmt.Sprintf("Ready=%q", ready)
		})
		clusterName = get(ns, "rayservice", name, "{.status.activeServiceStatus.rayClusterName}")
		// KubeRay's default namespace in Redis: the RayCluster's UID.
		storageNS = get(ns, "raycluster", clusterName, "{.metadata.uid}")
		svc = name + "-serve-svc"
		if clusterName == "" || storageNS == "" {
			t.Fatalf("active cluster %q uid %q", clusterName, storageNS)
		}
		fin := get(ns, "raycluster", clusterName, "{.metadata.finalizers}")
		if !strings.Contains(fin, "ray.io/gcs-ft-redis-cleanup-finalizer") {
			t.Errorf("RayCluster %s finalizers %s: no ray.io/gcs-ft-redis-cleanup-finalizer", clusterName, fin)
		}
	})
	logStep("TestGCSFaultTolerance: apply → RayService Ready", start)
	step(t, "the GCS keeps its tables in Redis (keys RAY<cluster uid>@...)", func() {
		waitFor(t, "keys of namespace "+storageNS, time.Minute, func() (bool, string) {
			keys := redisKeys(t, ns, storageNS)
			return len(keys) > 0, fmt.Sprintf("%d keys", len(keys))
		})
		fmt.Printf("    redis keys of %s: %v\n", storageNS, redisKeys(t, ns, storageNS))
	})

	// A RayJob on the same cluster, finished before the head goes.
	const jobName = "rayjob-ft"
	var jobID string
	step(t, "a RayJob on the cluster (clusterSelector) SUCCEEDED", func() {
		applyNS(t, ns, fmt.Sprintf(`
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: %s
spec:
  entrypoint: goray-examples pi
  submissionMode: K8sJobMode
  clusterSelector:
    ray.io/cluster: %s
`, jobName, clusterName))
		dep, job := waitJobEnd(t, ns, jobName, 5*time.Minute)
		if dep != "Complete" || job != "SUCCEEDED" {
			t.Fatalf("RayJob %s: %s/%s, want Complete/SUCCEEDED; message: %s", jobName, dep, job, get(ns, "rayjob", jobName, "{.status.message}"))
		}
		jobID = get(ns, "rayjob", jobName, "{.status.jobId}")
	})

	oldHead := headPod(t, ns, clusterName)
	// Closed-loop load from a pod in the cluster through the serve Service.
	const loadPod = "load"
	apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: %s}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
  - name: probe
    image: %s
    imagePullPolicy: Never
    args: [load, -c, "2", -d, 100s, -n, "500000", "http://%s:8000/"]
    resources: {requests: {cpu: 100m, memory: 32Mi}}
`, loadPod, ns, probeImage, svc))
	step(t, "load running (successful requests in its first 5 s)", func() {
		waitFor(t, "load pod", 2*time.Minute, func() (bool, string) {
			logs, _ := kubectlErr("-n", ns, "logs", loadPod)
			m := regexp.MustCompile(`load: t=\d+s ok=(\d+)`).FindStringSubmatch(logs)
			return m != nil && m[1] != "0", tail(logs, 1)
		})
	})

	// Watch the RayService's Ready condition and active cluster until the load ends.
	var mu sync.Mutex
	var notReady []string
	stopWatch := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(time.Second):
			}
			ready := get(ns, "rayservice", name, `{.status.conditions[?(@.type=="Ready")].status}`)
			active := get(ns, "rayservice", name, "{.status.activeServiceStatus.rayClusterName}")
			if ready != "True" || active != clusterName {
				mu.Lock()
				notReady = append(notReady, fmt.Sprintf("%s Ready=%q active=%q", time.Now().Format("15:04:05"), ready, active))
				mu.Unlock()
			}
		}
	}()
	defer func() {
		select {
		case <-watched:
		default:
			close(stopWatch)
			<-watched
		}
	}()

	deleted := time.Now()
	var newHead string
	var headBack, nodesBack time.Duration
	step(t, "head pod deleted under load; a new head runs and every worker re-registers", func() {
		kubectl(t, "-n", ns, "delete", "pod", oldHead, "--wait=false")
		fmt.Printf("    deleted head pod %s\n", oldHead)
		waitFor(t, "new head pod ready", 3*time.Minute, func() (bool, string) {
			out, _ := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=head",
				"-o", `jsonpath={range .items[*]}{.metadata.name} {.status.phase} {.status.containerStatuses[0].ready}{"\n"}{end}`)
			for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Fields(l)
				if len(f) == 3 && f[0] != oldHead && f[1] == "Running" && f[2] == "true" {
					newHead = f[0]
					return true, ""
				}
			}
			return false, strings.ReplaceAll(strings.TrimSpace(out), "\n", "; ")
		})
		headBack = time.Since(deleted)
		waitFor(t, "workers re-registered with the new GCS", 2*time.Minute, func() (bool, string) {
			heads, workers, out, err := clusterNodes(ns, newHead)
			_ = out
			return err == nil && heads == 1 && workers == 2, fmt.Sprintf("%d head, %d workers alive (%v)", heads, workers, err)
		})
		nodesBack = time.Since(deleted)
	})
	fmt.Printf("    head pod deleted → new head ready %.1fs, both workers registered %.1fs\n", headBack.Seconds(), nodesBack.Seconds())

	var ok, failed int64
	var ratio float64
	step(t, "load done: ≥ 99.9% of the requests succeeded", func() {
		waitFor(t, "load pod Succeeded", 3*time.Minute, func() (bool, string) {
			phase := get(ns, "pod", loadPod, "{.status.phase}")
			if phase == "Failed" {
				t.Fatalf("the load pod failed: %s", kubectl(t, "-n", ns, "logs", loadPod))
			}
			return phase == "Succeeded", "phase " + phase
		})
		logs := kubectl(t, "-n", ns, "logs", loadPod)
		fmt.Print(indent(indent(tail(logs, 4))))
		m := loadResult.FindStringSubmatch(logs)
		if m == nil {
			t.Fatalf("no result line in the load pod's logs:\n%s", logs)
		}
		ok, _ = strconv.ParseInt(m[1], 10, 64)
		failed, _ = strconv.ParseInt(m[2], 10, 64)
		ratio, _ = strconv.ParseFloat(m[3], 64)
		secs, _ := strconv.ParseFloat(m[4], 64)
		fmt.Printf("    FIGURE: head pod deleted under closed-loop load: %d ok, %d failed, success ratio %.5f over %.0f s\n", ok, failed, ratio, secs)
		if time.Since(deleted).Seconds() > secs+5 && headBack.Seconds() > secs {
			t.Errorf("the load (%.0f s) ended before the new head was ready (%.0f s after the deletion): it does not cover the outage", secs, headBack.Seconds())
		}
		if ok == 0 || ratio < 0.999 {
			t.Errorf("success ratio %.5f (%d ok, %d failed) < 0.999 while the head pod was replaced", ratio, ok, failed)
		}
	})
	close(stopWatch)
	<-watched
	step(t, "the RayService stayed Ready on the same cluster", func() {
		mu.Lock()
		defer mu.Unlock()
		if len(notReady) > 0 {
			t.Errorf("RayService not Ready or on another cluster at %d of the checks: %s", len(notReady), strings.Join(notReady, "; "))
		}
	})
	step(t, "the RayJob keeps its status (CR and the new head's job API)", func() {
		dep, job := get(ns, "rayjob", jobName, "{.status.jobDeploymentStatus}"), get(ns, "rayjob", jobName, "{.status.jobStatus}")
		if dep != "Complete" || job != "SUCCEEDED" {
			t.Errorf("RayJob %s after the head restart: %s/%s, want Complete/SUCCEEDED", jobName, dep, job)
		}
		out, err := kubectlErr("-n", ns, "exec", newHead, "-c", "ray-head", "--", "goray", "job", "status", jobID)
		if err != nil || !strings.Contains(out, "SUCCEEDED") {
			t.Errorf("the new head's job API for %s: %q %v, want SUCCEEDED (the job record kept in Redis)", jobID, out, err)
		}
	})

	step(t, "delete → cleanup Job succeeds → the cluster's Redis keys are gone", func() {
		before := len(redisKeys(t, ns, storageNS))
		kubectl(t, "-n", ns, "delete", "rayservice", name, "--wait=false")
		jobSeen := ""
		waitFor(t, "RayCluster "+clusterName+" deleted", 5*time.Minute, func() (bool, string) {
			if s := get(ns, "job", clusterName+"-redis-cleanup", "{.status.succeeded}"); s != "" {
				jobSeen = "succeeded=" + s
			}
			_, err := kubectlErr("-n", ns, "get", "raycluster", clusterName)
			return err != nil, "cleanup job " + jobSeen
		})
		events := kubectl(t, "-n", ns, "get", "events", "--field-selector", "involvedObject.kind=RayCluster,involvedObject.name="+clusterName,
			"-o", `jsonpath={range .items[*]}{.reason}{" "}{end}`)
		fmt.Printf("    RayCluster events: %s\n", events)
		for _, want := range []string{"RedisCleanupStarted", "RedisCleanupSucceeded"} {
			if !strings.Contains(events, want) {
				t.Errorf("no %s event for RayCluster %s (events: %s)", want, clusterName, events)
			}
		}
		if strings.Contains(events, "RedisCleanupFailed") || strings.Contains(events, "RedisCleanupTimeout") {
			t.Errorf("the cleanup failed or timed out: %s", events)
		}
		after := redisKeys(t, ns, storageNS)
		fmt.Printf("    redis keys of %s: %d before the delete, %d after\n", storageNS, before, len(after))
		if before == 0 || len(after) != 0 {
			t.Errorf("redis keys of namespace %s: %d before the delete, %v after; want some, then none", storageNS, before, after)
		}
	})
	logStep("TestGCSFaultTolerance: total", start)
}

// TestNodeLoss (issue 16, acceptance 5): a RayJob on a cluster with a worker
// on each node; the second node is lost mid-job (hack/cluster/node2-lose.sh:
// its kubelet, containerd, kube-proxy and every pod process SIGKILLed, its
// network namespace gone) and the job still succeeds. The node is brought
// back afterwards (node2-up.sh) for the scenarios that follow.
func TestNodeLoss(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-node-loss", "rayjob-node-loss"
	scenarioNS(t, ns)
	t.Cleanup(func() {
		step(t, "second node back (hack/cluster/node2-up.sh --all-images)", func() {
			if err := run("hack/cluster/node2-up.sh", "--all-images"); err != nil {
				t.Errorf("node2-up.sh: %v", err)
			}
		})
	})
	const runs = 20
	worker := func(group, node string) string {
		return fmt.Sprintf(`
    - groupName: %s
      replicas: 1
      minReplicas: 1
      maxReplicas: 1
      rayStartParams:
        num-cpus: "1"
      template:
        spec:
          nodeSelector: {kubernetes.io/hostname: %s}
          containers:
          - name: ray-worker
            image: goray/goray:dev
            imagePullPolicy: IfNotPresent
            resources:
              requests: {cpu: 200m, memory: 256Mi}
              limits: {cpu: 500m, memory: 512Mi}`, group, node)
	}
	start := time.Now()
	applyNS(t, ns, fmt.Sprintf(`
apiVersion: ray.io/v1
kind: RayJob
metadata:
  name: %[1]s
spec:
  # pi %[2]d times, a second apart: tasks on both workers while the second node
  # goes (the image's busybox has no seq: one word per run).
  entrypoint: "for i in %[3]s; do goray-examples pi || exit 1; sleep 1; done; echo all-runs-done"
  submissionMode: K8sJobMode
  # The submitter on the first node: it is the job's client, not what is lost.
  submitterPodTemplate:
    spec:
      nodeSelector: {kubernetes.io/hostname: %[5]s}
      containers:
      - name: ray-job-submitter
  rayClusterSpec:
    headGroupSpec:
      rayStartParams:
        num-cpus: "0"
      template:
        spec:
          nodeSelector: {kubernetes.io/hostname: %[5]s}
          containers:
          - name: ray-head
            image: goray/goray:dev
            imagePullPolicy: IfNotPresent
            resources:
              requests: {cpu: 300m, memory: 512Mi}
              limits: {cpu: "1", memory: 1Gi}
    workerGroupSpecs:%[4]s
`, name, runs, strings.TrimSpace(strings.Repeat("x ", runs)), worker("node1", node1Name)+worker("node2", node2Name), node1Name))

	var clusterName, head string
	step(t, "job RUNNING with a worker on each node", func() {
		waitFor(t, "RayJob "+name+" RUNNING", 5*time.Minute, func() (bool, string) {
			job := get(ns, "rayjob", name, "{.status.jobStatus}")
			dep := get(ns, "rayjob", name, "{.status.jobDeploymentStatus}")
			if dep == "Complete" || dep == "Failed" {
				t.Fatalf("RayJob ended (%s/%s) before the node could be lost", dep, job)
			}
			return job == "RUNNING", fmt.Sprintf("jobDeploymentStatus=%q jobStatus=%q", dep, job)
		})
		clusterName = get(ns, "rayjob", name, "{.status.rayClusterName}")
		head = headPod(t, ns, clusterName)
		waitFor(t, "2 workers alive in goray status", time.Minute, func() (bool, string) {
			_, workers, _, err := clusterNodes(ns, head)
			return err == nil && workers == 2, fmt.Sprintf("%d workers alive (%v)", workers, err)
		})
		nodes := kubectl(t, "-n", ns, "get", "pods", "-l", "ray.io/cluster="+clusterName+",ray.io/node-type=worker",
			"-o", `jsonpath={range .items[*]}{.spec.nodeName}{" "}{end}`)
		if !strings.Contains(nodes, node1Name+" ") || !strings.Contains(nodes, node2Name+" ") {
			t.Fatalf("worker pods on nodes %q, want one on each", nodes)
		}
	})
	step(t, "the operator runs on the first node", func() {
		// The scenario loses a node under the data plane, not the operator.
		on := kubectl(t, "-n", operatorNS, "get", "pods", "-l", "app.kubernetes.io/name=goray-operator",
			"-o", `jsonpath={range .items[*]}{.spec.nodeName}{" "}{end}`)
		if strings.TrimSpace(on) != node1Name {
			t.Fatalf("operator pods on nodes %q, want only %s", on, node1Name)
		}
	})
	step(t, "some runs done, then the second node is lost", func() {
		waitFor(t, "two pi runs in the job's logs", 3*time.Minute, func() (bool, string) {
			n := strings.Count(submitterLogs(ns, name), "pi ≈")
			return n >= 2, fmt.Sprintf("%d runs", n)
		})
		if err := run("hack/cluster/node2-lose.sh"); err != nil {
			t.Fatalf("node2-lose.sh: %v", err)
		}
	})
	lost := time.Now()
	var deployment, job string
	step(t, "RayJob ends", func() {
		deployment, job = waitJobEnd(t, ns, name, 6*time.Minute)
	})
	fmt.Printf("    node lost → job end %.1fs\n", time.Since(lost).Seconds())
	logs := submitterLogs(ns, name)
	fmt.Printf("    submitter logs (tail):\n%s", indent(indent(tail(logs, 8))))
	if deployment != "Complete" || job != "SUCCEEDED" {
		t.Fatalf("RayJob ended %s/%s after the node loss, want Complete/SUCCEEDED; message: %s", deployment, job,
			get(ns, "rayjob", name, "{.status.message}"))
	}
	if n := strings.Count(logs, "pi ≈"); n != runs || !strings.Contains(logs, "all-runs-done") {
		t.Errorf("%d of %d pi runs in the logs (all-runs-done: %v)", n, runs, strings.Contains(logs, "all-runs-done"))
	}
	step(t, "the lost node's worker is dead in goray status", func() {
		_, workers, out, err := clusterNodes(ns, head)
		if err != nil || workers != 1 {
			t.Errorf("goray status after the loss: %d workers alive, want 1 (%v)\n%s", workers, err, out)
		}
	})
	logStep("TestNodeLoss: total", start)
}
