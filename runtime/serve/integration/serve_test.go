package integration

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

const helloConfig = `
applications:
  - name: hello
    route_prefix: /
    import_path: hello
    deployments:
      - name: Hello
        num_replicas: 2
      - name: Echo
        user_config: {message: "hi there"}
`

// An application with two deployments serves through the proxies of both
// nodes; the ingress reaches the second deployment through a handle.
func TestTwoDeploymentsServeThroughProxy(t *testing.T) {
	deploy(t, helloConfig)
	t.Cleanup(func() { shutdown(t) })
	d := waitFor(t, "hello RUNNING", appRunning("hello"))
	a := d.Applications["hello"]
	if len(a.Deployments) != 2 || a.Deployments["Hello"].TargetNumReplicas != 2 || a.Deployments["Echo"].TargetNumReplicas != 1 {
		t.Fatalf("deployments: %s", statusSummary(d))
	}
	if a.DeploymentTopology.IngressDeployment != "Hello" {
		t.Errorf("ingress = %q, want Hello", a.DeploymentTopology.IngressDeployment)
	}
	for _, r := range a.Deployments["Hello"].Replicas {
		if r.NodeIP != workerIP {
			t.Errorf("replica %s runs on %s, want the worker %s (the head has no CPUs)", r.ReplicaID, r.NodeIP, workerIP)
		}
	}
	for _, ip := range []string{headIP, workerIP} {
		if code, body := get(t, proxyURL(ip, "/")); code != 200 || strings.TrimSpace(body) != "Hello from goray serve!" {
			t.Errorf("proxy %s GET /: %d %q", ip, code, body)
		}
		if code, body := get(t, proxyURL(ip, "/echo")); code != 200 || strings.TrimSpace(body) != "hi there" {
			t.Errorf("proxy %s GET /echo (through the Echo handle): %d %q", ip, code, body)
		}
		if code, body := get(t, proxyURL(ip, "/-/healthz")); code != 200 || body != "success" {
			t.Errorf("proxy %s /-/healthz: %d %q", ip, code, body)
		}
		code, body := get(t, proxyURL(ip, "/-/routes"))
		var routes map[string]string
		if err := json.Unmarshal([]byte(body), &routes); code != 200 || err != nil || routes["/"] != "hello" || len(routes) != 1 {
			t.Errorf("proxy %s /-/routes: %d %q", ip, code, body)
		}
	}
	// The worker's replicas also serve on unix sockets in its session
	// directory, which the worker's proxy uses (the head's proxy uses TCP).
	socks, _ := filepath.Glob(filepath.Join(tmpRoot, "session-"+workerIP+"-*", "sockets", "serve-*.sock"))
	for _, dep := range a.Deployments {
		for _, r := range dep.Replicas {
			if !slices.ContainsFunc(socks, func(s string) bool { return strings.HasSuffix(s, "serve-"+r.ReplicaID+".sock") }) {
				t.Errorf("replica %s has no unix socket (sockets: %v)", r.ReplicaID, socks)
			}
		}
	}
	// Both Hello replicas take traffic (power of two choices spreads it).
	pids := map[string]bool{}
	for i := 0; i < 50 && len(pids) < 2; i++ {
		_, body := get(t, proxyURL(workerIP, "/pid"))
		pids[strings.TrimSpace(body)] = true
	}
	if len(pids) != 2 {
		t.Errorf("requests reached %d Hello replicas, want 2", len(pids))
	}
	if len(d.Proxies) != 2 {
		t.Errorf("proxies = %v, want one per node", d.Proxies)
	}
	for id, p := range d.Proxies {
		if p.Status != schema.ProxyHealthy {
			t.Errorf("proxy %s is %s", id, p.Status)
		}
	}
}

// Longest route prefix wins; the prefix is stripped from the path the
// deployment sees; an unknown path is 404.
func TestRoutePrefixes(t *testing.T) {
	deploy(t, `
applications:
  - name: root
    route_prefix: /
    import_path: hello
    deployments: [{name: Hello, user_config: {greeting: root}}]
  - name: api
    route_prefix: /api/v1
    import_path: hello
    deployments: [{name: Hello, user_config: {greeting: api}}]
`)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "both RUNNING", func(d *schema.ServeInstanceDetails) bool {
		return appRunning("root")(d) && appRunning("api")(d)
	})
	waitForBody(t, proxyURL(workerIP, "/api/v1"), "api")
	for path, want := range map[string]string{"/": "root", "/api": "root", "/api/v1": "api", "/api/v1/": "api", "/api/v10": "root"} {
		if code, body := get(t, proxyURL(workerIP, path)); code != 200 || strings.TrimSpace(body) != want {
			t.Errorf("GET %s: %d %q, want %q", path, code, body, want)
		}
	}
	if _, body := get(t, proxyURL(workerIP, "/api/v1/config")); !strings.Contains(body, `"greeting":"api"`) {
		t.Errorf("GET /api/v1/config (path below the prefix): %q", body)
	}
	shutdown(t)
	waitForCode(t, proxyURL(workerIP, "/"), http.StatusNotFound)
}

func waitForBody(t *testing.T, url, want string) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		code, body := get(t, url)
		if code == 200 && strings.TrimSpace(body) == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("GET %s: %d %q, want %q", url, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitForCode(t *testing.T, url string, want int) {
	t.Helper()
	end := time.Now().Add(deadline)
	for {
		code, body := get(t, url)
		if code == want {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("GET %s: %d %q, want status %d", url, code, body, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const loadConfig = `
applications:
  - name: load
    route_prefix: /load
    import_path: hello
    deployments:
      - name: Hello
        num_replicas: 3
        max_ongoing_requests: 4
        health_check_period_s: 1
        graceful_shutdown_wait_loop_s: 0.5
        user_config: {greeting: %s}
`

// Concurrent requests while a replica is killed and while user_config
// changes: every admitted request is answered 200, by the old or the new config.
func TestNoAdmittedRequestLost(t *testing.T) {
	deploy(t, strings.Replace(loadConfig, "%s", "v1", 1))
	t.Cleanup(func() { shutdown(t) })
	d := waitFor(t, "load RUNNING", appRunning("load"))
	ctx, cancel := context.WithCancel(context.Background())
	var res LoadResult
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		res = Load(ctx, proxyURL(workerIP, "/load?sleep_ms=20"), 16, true)
	}()
	time.Sleep(500 * time.Millisecond)
	// Kill a replica's process outright.
	victim := d.Applications["load"].Deployments["Hello"].Replicas[0]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill replica pid %d: %v", victim.PID, err)
	}
	waitFor(t, "the killed replica replaced", func(d *schema.ServeInstanceDetails) bool {
		if !appRunning("load")(d) {
			return false
		}
		for _, r := range d.Applications["load"].Deployments["Hello"].Replicas {
			if r.ReplicaID == victim.ReplicaID {
				return false
			}
		}
		return true
	})
	// Change user_config under load: replicas are reconfigured in place.
	before := map[string]bool{}
	for _, r := range status(t).Applications["load"].Deployments["Hello"].Replicas {
		before[r.ReplicaID] = true
	}
	deploy(t, strings.Replace(loadConfig, "%s", "v2", 1))
	waitForBody(t, proxyURL(workerIP, "/load"), "v2")
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
	t.Log(res)
	if res.Failures != 0 || res.Requests < 100 {
		t.Fatalf("%v; statuses %v; errors %q", res, res.Statuses, res.FirstErrs)
	}
	for body := range res.Bodies {
		if b := strings.TrimSpace(body); b != "v1" && b != "v2" {
			t.Errorf("unexpected body %q", body)
		}
	}
	after := status(t).Applications["load"].Deployments["Hello"]
	for _, r := range after.Replicas {
		if !before[r.ReplicaID] {
			t.Errorf("replica %s is new: a user_config change must not restart replicas", r.ReplicaID)
		}
	}
}

// A replica that is killed is replaced with a new one (the health of the
// deployment goes back to HEALTHY).
func TestReplicaRestartAfterKill(t *testing.T) {
	deploy(t, `
applications:
  - name: solo
    route_prefix: /solo
    import_path: hello
    deployments: [{name: Hello, num_replicas: 1, health_check_period_s: 1}]
`)
	t.Cleanup(func() { shutdown(t) })
	d := waitFor(t, "solo RUNNING", appRunning("solo"))
	victim := d.Applications["solo"].Deployments["Hello"].Replicas[0]
	syscall.Kill(victim.PID, syscall.SIGKILL)
	// Requests sent meanwhile wait for the replacement instead of failing.
	if code, body := get(t, proxyURL(workerIP, "/solo")); code != 200 {
		t.Errorf("request during the restart: %d %q", code, body)
	}
	waitFor(t, "a new replica", func(d *schema.ServeInstanceDetails) bool {
		r := d.Applications["solo"].Deployments["Hello"].Replicas
		return appRunning("solo")(d) && r[0].ReplicaID != victim.ReplicaID
	})
}

// Past max_ongoing_requests per replica and max_queued_requests, requests are shed with 503.
func TestBackpressureSheds(t *testing.T) {
	deploy(t, `
applications:
  - name: tight
    route_prefix: /tight
    import_path: hello
    deployments: [{name: Hello, num_replicas: 1, max_ongoing_requests: 1, max_queued_requests: 1}]
`)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "tight RUNNING", appRunning("tight"))
	waitForBody(t, proxyURL(workerIP, "/tight"), "Hello from goray serve!") // the proxy knows the replica
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(proxyURL(workerIP, "/tight?sleep_ms=1500"))
			if err != nil {
				t.Error(err)
				return
			}
			_ = resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
		}()
	}
	wg.Wait()
	// One runs, one waits in the queue, the rest are shed.
	if codes[200] != 2 || codes[503] != 4 {
		t.Fatalf("status codes %v, want 2×200 and 4×503", codes)
	}
}

// Replica autoscaling on ongoing requests: up under load, back down after
// downscale_delay_s once it stops.
func TestAutoscaling(t *testing.T) {
	deploy(t, `
applications:
  - name: auto
    route_prefix: /auto
    import_path: hello
    deployments:
      - name: Hello
        num_replicas: auto
        max_ongoing_requests: 10
        autoscaling_config:
          min_replicas: 1
          max_replicas: 3
          target_ongoing_requests: 1
          upscale_delay_s: 0.5
          downscale_delay_s: 2
          look_back_period_s: 1
`)
	t.Cleanup(func() { shutdown(t) })
	waitFor(t, "auto RUNNING", appRunning("auto"))
	if n := status(t).Applications["auto"].Deployments["Hello"].TargetNumReplicas; n != 1 {
		t.Fatalf("initial target %d, want min_replicas 1", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan LoadResult)
	go func() { done <- Load(ctx, proxyURL(workerIP, "/auto?sleep_ms=200"), 8, false) }()
	waitFor(t, "scale up to 3", func(d *schema.ServeInstanceDetails) bool {
		dd := d.Applications["auto"].Deployments["Hello"]
		return dd.TargetNumReplicas == 3 && appRunning("auto")(d)
	})
	cancel()
	res := <-done
	if res.Failures != 0 {
		t.Errorf("load while scaling up: %v %q", res, res.FirstErrs)
	}
	d := waitFor(t, "scale down to 1", func(d *schema.ServeInstanceDetails) bool {
		dd := d.Applications["auto"].Deployments["Hello"]
		return dd.TargetNumReplicas == 1 && dd.Status == schema.DepHealthy && appRunning("auto")(d)
	})
	dd := d.Applications["auto"].Deployments["Hello"]
	if dd.StatusTrigger != schema.TriggerDownscaleCompleted {
		t.Errorf("status trigger after scaling down = %s, want %s", dd.StatusTrigger, schema.TriggerDownscaleCompleted)
	}
}

// A replica failing its health checks is replaced (the deployment is
// UNHEALTHY meanwhile); a user_config that heals it brings it back to HEALTHY.
func TestHealthCheckRestarts(t *testing.T) {
	cfg := `
applications:
  - name: sick
    route_prefix: /sick
    import_path: hello
    deployments:
      - name: Hello
        num_replicas: 0
      - name: Echo
        health_check_period_s: 0.2
        health_check_timeout_s: 2
        user_config: {message: %s}
`
	deploy(t, strings.Replace(cfg, "%s", "fine", 1))
	t.Cleanup(func() { shutdown(t) })
	first := waitFor(t, "sick RUNNING", appRunning("sick")).Applications["sick"].Deployments["Echo"].Replicas[0]
	deploy(t, strings.Replace(cfg, "%s", "unhealthy", 1))
	waitFor(t, "Echo UNHEALTHY and its replica replaced", func(d *schema.ServeInstanceDetails) bool {
		e := d.Applications["sick"].Deployments["Echo"]
		replaced := len(e.Replicas) > 0 && e.Replicas[0].ReplicaID != first.ReplicaID
		return e.Status == schema.DepUnhealthy && e.StatusTrigger == schema.TriggerHealthCheckFailed && replaced &&
			d.Applications["sick"].Status == schema.AppUnhealthy
	})
	deploy(t, strings.Replace(cfg, "%s", "fine again", 1))
	waitFor(t, "Echo HEALTHY again", func(d *schema.ServeInstanceDetails) bool {
		return appRunning("sick")(d) && d.Applications["sick"].Deployments["Echo"].Status == schema.DepHealthy
	})
}
