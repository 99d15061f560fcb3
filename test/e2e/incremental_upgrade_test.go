//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The RayService of TestIncrementalUpgrade: Hello (4 replicas of 1 CPU) on
// workers of 1 CPU that the autoscaler adds and removes (head: no CPUs), so
// a full cluster is the head and 4 worker pods; Echo (0 CPUs) on the head.
const incrementalRayService = `apiVersion: ray.io/v1
kind: RayService
metadata:
  name: incr
spec:
  rayClusterDeletionDelaySeconds: 20
  upgradeStrategy:
    type: NewClusterWithIncrementalUpgrade
    clusterUpgradeOptions:
      maxSurgePercent: 25
      stepSizePercent: 10
      intervalSeconds: 5
      gatewayClassName: none
  serveConfigV2: |
    applications:
      - name: hello
        route_prefix: /
        import_path: hello
        runtime_env:
          binary: /usr/local/bin/goray-examples
        deployments:
          - name: Hello
            num_replicas: 4
            ray_actor_options:
              num_cpus: 1
          - name: Echo
            num_replicas: 1
            ray_actor_options:
              num_cpus: 0
  rayClusterConfig:
    enableInTreeAutoscaling: true
    autoscalerOptions:
      idleTimeoutSeconds: 5
      imagePullPolicy: IfNotPresent
      resources:
        requests: {cpu: 50m, memory: 128Mi}
        limits: {cpu: 200m, memory: 256Mi}
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
              requests: {cpu: 100m, memory: 256Mi}
              limits: {cpu: "1", memory: 1Gi}
    workerGroupSpecs:
    - groupName: workers
      replicas: 0
      minReplicas: 0
      maxReplicas: 4
      rayStartParams:
        num-cpus: "1"
      template:
        spec:
          containers:
          - name: ray-worker
            image: goray/goray:dev
            imagePullPolicy: IfNotPresent
            resources:
              requests: {cpu: 50m, memory: 128Mi}
              limits: {cpu: 500m, memory: 512Mi}
`

// rayPods counts the namespace's Ray pods (terminating ones included: they
// still hold their resources).
func rayPods(ns string) (int, string) {
	out, _ := kubectlErr("-n", ns, "get", "pods", "-l", "ray.io/is-ray-node=yes", "-o",
		`jsonpath={range .items[*]}{.metadata.labels.ray\.io/cluster}{" "}{.metadata.labels.ray\.io/node-type}{"\n"}{end}`)
	by := map[string]int{}
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			by[strings.Fields(l)[0]]++
			n++
		}
	}
	keys := make([]string, 0, len(by))
	for k := range by {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, by[k]))
	}
	return n, strings.Join(parts, " ")
}

type incrStatus struct {
	Active, Pending                string
	ActiveCap, PendingCap, Traffic int
	hasPending                     bool
}

func readIncrStatus(ns, name string) (incrStatus, bool) {
	out, err := kubectlErr("-n", ns, "get", "rayservice", name, "-o", "jsonpath={.status}")
	if err != nil {
		return incrStatus{}, false
	}
	var st struct {
		Active struct {
			Name    string `json:"rayClusterName"`
			Cap     *int   `json:"targetCapacity"`
			Traffic *int   `json:"trafficRoutedPercent"`
		} `json:"activeServiceStatus"`
		Pending struct {
			Name    string `json:"rayClusterName"`
			Cap     *int   `json:"targetCapacity"`
			Traffic *int   `json:"trafficRoutedPercent"`
		} `json:"pendingServiceStatus"`
	}
	if json.Unmarshal([]byte(out), &st) != nil {
		return incrStatus{}, false
	}
	s := incrStatus{Active: st.Active.Name, Pending: st.Pending.Name, ActiveCap: -1, PendingCap: -1, Traffic: -1}
	if st.Active.Cap != nil {
		s.ActiveCap = *st.Active.Cap
	}
	if st.Pending.Cap != nil {
		s.PendingCap = *st.Pending.Cap
	}
	if st.Pending.Traffic != nil {
		s.Traffic = *st.Pending.Traffic
	}
	s.hasPending = s.Pending != ""
	return s, true
}

// TestIncrementalUpgrade (e): a RayService upgraded with
// NewClusterWithIncrementalUpgrade (maxSurge 25, step 10, interval 5 s)
// under closed-loop load: ≥ 99.9% of the requests succeed, the share the
// new cluster answers follows the status's traffic steps (10, 20, 25, 35,
// … 100), and the Ray pods never reach two full clusters (2 heads + 8
// workers).
func TestIncrementalUpgrade(t *testing.T) {
	needOperator(t)
	if !operatorHas("rayservice") {
		t.Skip("the operator runs no RayService controller")
	}
	const ns, name = "e2e-incr-upgrade", "incr"
	scenarioNS(t, ns)
	start := time.Now()
	applyNS(t, ns, incrementalRayService)
	var first, svc string
	step(t, "RayService Ready with 4 Hello replicas on 4 autoscaled workers", func() {
		waitFor(t, "RayService "+name, 8*time.Minute, func() (bool, string) {
			ready := get(ns, "rayservice", name, `{.status.conditions[?(@.type=="Ready")].status}`)
			first = get(ns, "rayservice", name, "{.status.activeServiceStatus.rayClusterName}")
			apps := get(ns, "rayservice", name, "{.status.activeServiceStatus.applicationStatuses.hello.status}")
			r, a := workerPods(ns, first)
			return ready == "True" && apps == "RUNNING" && r == 4, fmt.Sprintf("Ready=%q hello=%q workers %d/%d", ready, apps, r, a)
		})
		waitFor(t, "serve svc", time.Minute, func() (bool, string) {
			svc = get(ns, "service", name+"-serve-svc", "{.spec.clusterIP}")
			return svc != "" && svc != "None", "clusterIP " + svc
		})
		waitFor(t, "GET /cluster", time.Minute, func() (bool, string) {
			body, err := httpGet("http://" + svc + ":8000/cluster")
			return err == nil && strings.TrimSpace(body) == first, fmt.Sprintf("%q %v", body, err)
		})
	})
	logStep("TestIncrementalUpgrade: apply → serving", start)
	fullCluster, _ := rayPods(ns)
	fmt.Printf("    a full cluster: %d Ray pods\n", fullCluster)

	// Closed-loop load: 4 clients, each sending its next request when the
	// last one is answered (a new connection each time, as a client of a
	// Service sees pods come and go); bounded in time and count.
	type sample struct {
		at      time.Time
		cluster string
		ok      bool
	}
	var mu sync.Mutex
	var samples []sample
	var lastErr string
	ctx, stop := context.WithTimeout(context.Background(), 20*time.Minute)
	defer stop()
	var wg sync.WaitGroup
	const maxRequests = 400000
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				mu.Lock()
				n := len(samples)
				mu.Unlock()
				if n >= maxRequests {
					return
				}
				s := sample{at: time.Now()}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+svc+":8000/cluster", nil)
				resp, err := client.Do(req)
				if err == nil {
					b, rerr := io.ReadAll(resp.Body)
					_ = resp.Body.Close()
					s.cluster = strings.TrimSpace(string(b))
					s.ok = rerr == nil && resp.StatusCode == http.StatusOK && s.cluster != ""
					if !s.ok {
						err = fmt.Errorf("HTTP %d %q: %w", resp.StatusCode, b, rerr)
					}
				}
				if ctx.Err() != nil {
					return
				}
				mu.Lock()
				samples = append(samples, s)
				if err != nil {
					lastErr = err.Error()
				}
				mu.Unlock()
			}
		}()
	}
	stopLoad := func() { stop(); wg.Wait() }
	defer stopLoad()
	time.Sleep(3 * time.Second) // load before the upgrade

	type change struct {
		at time.Time
		st incrStatus
	}
	var changes []change
	peak, peakAt := 0, ""
	up := time.Now()
	var second string
	step(t, "rayClusterConfig change: incremental upgrade to a new cluster", func() {
		kubectl(t, "-n", ns, "patch", "rayservice", name, "--type=json", "-p",
			`[{"op":"add","path":"/spec/rayClusterConfig/headGroupSpec/template/metadata","value":{"labels":{"e2e-upgrade":"1"}}}]`)
		waitFor(t, "the new cluster active", 15*time.Minute, func() (bool, string) {
			if n, by := rayPods(ns); n > peak {
				peak, peakAt = n, by
			}
			st, ok := readIncrStatus(ns, name)
			if !ok {
				return false, "no status"
			}
			if len(changes) == 0 || changes[len(changes)-1].st != st {
				changes = append(changes, change{time.Now(), st})
				fmt.Printf("    %5.1fs active %s (capacity %d) pending %s (capacity %d, traffic %d%%)\n", time.Since(up).Seconds(),
					st.Active, st.ActiveCap, st.Pending, st.PendingCap, st.Traffic)
			}
			second = st.Active
			return st.Active != first && st.Active != "", fmt.Sprintf("%+v", st)
		})
	})
	logStep("TestIncrementalUpgrade: incremental upgrade", up)
	// Load goes on until the old cluster is gone.
	step(t, "the old cluster deleted after rayClusterDeletionDelaySeconds", func() {
		waitFor(t, "old cluster gone", 3*time.Minute, func() (bool, string) {
			if n, by := rayPods(ns); n > peak {
				peak, peakAt = n, by
			}
			_, err := kubectlErr("-n", ns, "get", "raycluster", first)
			return err != nil, "RayCluster " + first
		})
		time.Sleep(5 * time.Second)
	})
	stopLoad()

	mu.Lock()
	defer mu.Unlock()
	okN := 0
	for _, s := range samples {
		if s.ok {
			okN++
		}
	}
	total := len(samples)
	rate := 100 * float64(okN) / float64(max(total, 1))
	fmt.Printf("    requests: %d, succeeded %d (%.3f%%), last error: %s\n", total, okN, rate, lastErr)
	fmt.Printf("    peak Ray pods %d (%s); a full cluster %d, two %d\n", peak, peakAt, fullCluster, 2*fullCluster)

	// The traffic steps, from the operator's events (exact times; a step
	// can last less than a status poll), and the share of the requests the
	// new cluster answered while each held.
	type trafficStep struct {
		at      time.Time
		percent int
	}
	var steps []trafficStep
	out := kubectl(t, "-n", ns, "get", "events", "--field-selector", "reason=IncrementalUpgradeStep", "-o",
		`jsonpath={range .items[*]}{.eventTime}{"|"}{.message}{"\n"}{end}`)
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		at, msg, ok := strings.Cut(l, "|")
		var from, to int
		if _, err := fmt.Sscanf(msg, "traffic to the pending cluster %d%% -> %d%%", &from, &to); !ok || err != nil {
			continue
		}
		when, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			t.Fatalf("event time %q: %v", at, err)
		}
		steps = append(steps, trafficStep{when, to})
	}
	sort.Slice(steps, func(i, j int) bool { return steps[i].at.Before(steps[j].at) })
	var seenSteps []string
	for i, st := range steps {
		seenSteps = append(seenSteps, strconv.Itoa(st.percent))
		// From 1.5 s after the decision (the split reaches the proxies
		// at the next reconcile and routing-table poll) to just before
		// the next one; the last (100%) holds until the load stops.
		from, to := st.at.Add(1500*time.Millisecond), time.Now()
		if i+1 < len(steps) {
			to = steps[i+1].at.Add(-200 * time.Millisecond)
		}
		n, toNew := 0, 0
		for _, s := range samples {
			if s.ok && !s.at.Before(from) && s.at.Before(to) {
				n++
				if s.cluster == second {
					toNew++
				}
			}
		}
		if n < 100 {
			fmt.Printf("    traffic %3d%%: %d requests in its window, too few to measure\n", st.percent, n)
			continue
		}
		share := 100 * float64(toNew) / float64(n)
		fmt.Printf("    traffic %3d%% from %5.1fs: the new cluster answered %5.1f%% of %d requests\n", st.percent, st.at.Sub(up).Seconds(), share, n)
		if d := share - float64(st.percent); d > 3 || d < -3 {
			t.Errorf("at traffic %d%% the new cluster answered %.1f%% of %d requests", st.percent, share, n)
		}
	}
	fmt.Printf("    traffic steps: %s\n", strings.Join(seenSteps, " → "))
	for i := 1; i < len(steps); i++ {
		if gap := steps[i].at.Sub(steps[i-1].at); gap < 5*time.Second {
			t.Errorf("traffic step %d%% came %v after the one before, intervalSeconds is 5", steps[i].percent, gap)
		}
	}
	if want := "10 20 25 35 45 50 60 70 75 85 95 100"; strings.Join(seenSteps, " ") != want {
		t.Errorf("traffic steps %v, want %s (maxSurge 25, step 10)", seenSteps, want)
	}
	if rate < 99.9 {
		t.Errorf("%.3f%% of %d requests succeeded, want ≥ 99.9%% (last error: %s)", rate, total, lastErr)
	}
	if peak >= 2*fullCluster {
		t.Errorf("peak %d Ray pods (%s), want fewer than two full clusters (%d)", peak, peakAt, 2*fullCluster)
	}
	if second == first || second == "" {
		t.Errorf("active cluster %q after the upgrade", second)
	}
}
