package browser

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/goray-dev/goray/runtime/auth"
	runtimecluster "github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
	serveclient "github.com/goray-dev/goray/runtime/serve/client"
)

type greeterState struct{ calls int }

// The greeter prints, so that its worker's log has lines the log pages
// must show.
var greeter = ray.Actor("browser.Greeter", func(ctx context.Context) (*greeterState, error) {
	fmt.Println("greeter ready")
	return &greeterState{}, nil
})

var greet = ray.Method0(greeter, "greet", func(s *greeterState, ctx context.Context) (string, error) {
	s.calls++
	fmt.Printf("greeting %d\n", s.calls)
	return "hello", nil
})

// needsGPU asks for a GPU no node has: infeasible demand the overview shows.
var needsGPU = ray.Task("browser.needs_gpu", func(ctx context.Context, _ int) (int, error) { return 0, nil })

var failing = ray.Task("browser.failing", func(ctx context.Context, msg string) (int, error) { return 0, errors.New(msg) })

// jobScript prints a line a second for five minutes (the page stops it
// sooner): the page must show the lines while the job runs, not when it
// ends, however slowly a loaded machine gets the browser there.
const jobScript = `for i in $(seq 1 300); do echo "tick $i"; sleep 1; done`

const serveConfig = `{"applications":[{"name":"hello","route_prefix":"/hello","import_path":"hello",
  "deployments":[{"name":"Hello","num_replicas":2},{"name":"Echo","num_replicas":1}]}]}`

// rowWith is a JavaScript test for a table row of the view holding every
// one of words.
func rowWith(words ...string) string {
	var conds []string
	for _, w := range words {
		conds = append(conds, "r.textContent.includes("+strconv.Quote(w)+")")
	}
	return `[...document.querySelectorAll("#view tbody tr")].some((r) => ` + strings.Join(conds, " && ") + `)`
}

// TestDashboardInABrowser opens the dashboard of a real head and two nodes
// (token auth on) in headless Chromium and checks each page against what
// runs: the login, the overview's node count, resources, infeasible demand
// and autoscaler report, a job found on the jobs page
// whose log the page follows while the job prints, the actor and its log
// (a line printed later appears), the failed task with its error, the
// placement group, the serve application's replicas, the nodes (the
// actor's node lists its worker's log file, which opens) and the cluster
// events; then the same page behind a path-prefix proxy.
func TestDashboardInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no runtime processes, no browser")
	}
	chromiumBin := chromiumPath(t)
	c := startCluster(t)
	ctx := context.Background()
	if err := ray.Init(ctx, ray.WithAddress(c.gcs)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ray.Shutdown) // before the nodes stop: cleanups run last first
	dash := "http://" + c.dashboard
	sec := auth.NewToken(token)
	waitUntil(t, "3 alive nodes", 60*time.Second, func() bool {
		nodes, err := ray.Nodes(ctx)
		alive := 0
		for _, n := range nodes {
			if n.Alive {
				alive++
			}
		}
		return err == nil && alive == 3
	})

	// What the pages must show: an actor, a failed task, a placement
	// group, a serve application and a job that prints as it goes.
	a, err := greeter.Remote(ctx, ray.Name("browser-greeter"))
	if err != nil {
		t.Fatal(err)
	}
	// Held to the end: an actor whose last handle is gone ends (named or
	// not, as in Ray), and the page behind the proxy looks for it last.
	t.Cleanup(a.Release)
	if _, err := ray.Get(ctx, greet.Remote(ctx, a)); err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, failing.Remote(ctx, "the browser test's failure", ray.MaxRetries(0))); err == nil {
		t.Fatal("the failing task succeeded")
	}
	pg, err := ray.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, "PACK", ray.Name("browser-pg"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}
	sc := serveclient.NewWithTransport(dash, sec.Transport(nil))
	if err := sc.PutJSON(ctx, []byte(serveConfig)); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the serve application's replicas running", 90*time.Second, func() bool {
		d, err := sc.Get(ctx)
		return err == nil && d.Applications["hello"] != nil && serveclient.AllRunning(d)
	})
	jc := &jobclient.Client{BaseURL: dash, HTTP: &http.Client{Transport: sec.Transport(nil), Timeout: 30 * time.Second}}
	job, err := jc.Submit(ctx, api.SubmitRequest{Entrypoint: jobScript})
	if err != nil {
		t.Fatal(err)
	}

	// Pending demand: a task no node can run, and what an autoscaler
	// reported (goray's autoscaler runs on Kubernetes only; this is its
	// report as it sends it to the GCS).
	gpuRef := needsGPU.Remote(ctx, 0, ray.NumGPUs(1))
	t.Cleanup(func() { _ = ray.Cancel(gpuRef, false) })
	conn, err := runtimecluster.Dial(c.gcs, sec)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	now := time.Now().UnixMilli()
	if _, err := rpcpb.NewGcsClient(conn).ReportAutoscalingState(ctx, &rpcpb.AutoscalingState{TimestampMs: now,
		LastDecision: "scale group-a from 0 to 2 for 2 pending tasks", LastDecisionTimestampMs: now,
		TargetReplicas: map[string]int32{"group-a": 2}, Unmet: []*rpcpb.ResourceDemand{{Shape: map[string]float64{"CPU": 8}, Count: 1}}}); err != nil {
		t.Fatal(err)
	}

	actorRow := stateRow(t, dash, "actors", "name", "browser-greeter")
	greeterNode := actorRow["node_id"].(string)
	worker := stateRow(t, dash, "workers", "pid", fmt.Sprint(actorRow["pid"]), "node_id", greeterNode)
	greeterLog := "worker-" + worker["worker_id"].(string) + ".log"

	b := newBrowser(t, chromiumBin)
	login := func(what string) {
		t.Helper()
		b.do(what+": the login form", 30*time.Second, chromedp.WaitVisible(chromedp.CSS("#login")))
		// The shell shows nothing of the cluster before the token.
		if n := b.eval(`document.getElementById("view").childElementCount`); n != "0" {
			t.Fatalf("%s: the page shows %s elements before the login:\n%s", what, n, b.eval(`document.body.innerText`))
		}
		b.do(what+": a wrong token", 15*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), "not-the-token"), chromedp.Click(chromedp.CSS("#login-submit")))
		b.waitFor(what+": the wrong token refused", `!document.getElementById("login-error").hidden`, 15*time.Second)
		b.eval(`document.getElementById("token").value = ""`)
		b.do(what+": the token", 15*time.Second, chromedp.SendKeys(chromedp.CSS("#token"), token),
			chromedp.Click(chromedp.CSS("#login-submit")), chromedp.WaitNotVisible(chromedp.CSS("#login")))
	}
	nav := func(name, hash string) {
		t.Helper()
		b.do("open "+name, 15*time.Second, chromedp.Click(chromedp.CSS(`#nav a[href="`+hash+`"]`)))
	}

	b.do("open the page", 30*time.Second, chromedp.Navigate(dash+"/"))
	b.screenshot("login")
	login("at /")
	// The session is an HttpOnly cookie: the page's scripts never hold it.
	if ck := b.eval(`document.cookie`); ck != "" {
		t.Errorf("the page's scripts see cookies: %q", ck)
	}

	b.waitFor("the overview's 3 alive nodes", `document.getElementById("nodes-alive")?.textContent === "3"`, 30*time.Second)
	b.waitFor("the overview's resources", rowWith("CPU", " / 5"), 10*time.Second)
	b.waitFor("the infeasible demand", rowWith("GPU: 1", "no: no node can ever fit it"), 30*time.Second)
	b.waitFor("the autoscaler's report", `(document.getElementById("autoscaler")?.textContent || "").includes("scale group-a from 0 to 2")`, 10*time.Second)
	b.screenshot("overview")

	nav("the jobs", "#/jobs")
	b.waitFor("the job listed", rowWith(job, "RUNNING"), 30*time.Second)
	b.screenshot("jobs")
	b.do("open the job", 15*time.Second, chromedp.Click(chromedp.CSS(`#view tr[data-id="`+job+`"] a`)))
	b.waitFor("the job's first lines", `/tick 2\n/.test(document.getElementById("job-log")?.textContent || "")`, 30*time.Second)
	// The lines come as the job prints them: later ones appear while it runs.
	seen := lastTick(b.eval(`document.getElementById("job-log").textContent`))
	if d, err := jc.Get(ctx, job); err != nil || d.Status != api.StatusRunning || seen >= 300 {
		t.Fatalf("the job is over before the page followed it (%v, %v, tick %d)", d, err, seen)
	}
	b.waitFor("later lines", `document.getElementById("job-log").textContent.includes("tick `+strconv.Itoa(seen+3)+`\n")`, 20*time.Second)
	if d, err := jc.Get(ctx, job); err != nil || d.Status != api.StatusRunning {
		t.Fatalf("the job ended while the page followed it: %v %v", d, err)
	}
	b.screenshot("job")
	// Stop it from the page (a same-origin POST with the session cookie).
	b.do("stop the job", 15*time.Second, chromedp.Click(chromedp.CSS("#job-stop")))
	b.waitFor("the job stopped", `document.getElementById("job-status")?.textContent === "STOPPED"`, 30*time.Second)
	b.waitFor("the log's end", `document.getElementById("job-log-state").textContent.includes("ended")`, 30*time.Second)
	if d, err := jc.Get(ctx, job); err != nil || d.Status != api.StatusStopped {
		t.Fatalf("the job after Stop on the page: %v %v", d, err)
	}

	nav("the actors", "#/actors")
	b.waitFor("the actor", rowWith("browser-greeter", "browser.Greeter", "ALIVE"), 30*time.Second)
	b.screenshot("actors")

	// The actor's log, followed: a line it prints later appears.
	b.do("open the actor's log", 15*time.Second, chromedp.Click(chromedp.CSS(`#view tr[data-id="`+actorRow["actor_id"].(string)+`"] a.log-link`)))
	b.waitFor("the actor's log", `/greeter ready\n[^]*greeting 1\n/.test(document.getElementById("log-view")?.textContent || "")`, 30*time.Second)
	if _, err := ray.Get(ctx, greet.Remote(ctx, a)); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the actor's new line", `(document.getElementById("log-view")?.textContent || "").includes("greeting 2\n")`, 30*time.Second)
	b.screenshot("actor-log")

	nav("the tasks", "#/tasks")
	b.waitFor("the failed task with its error", rowWith("browser.failing", "FAILED", "the browser test's failure"), 30*time.Second)
	b.waitFor("the failed task in the summary", rowWith("browser.failing", "NORMAL_TASK", "FAILED: 1"), 10*time.Second)
	b.screenshot("tasks")

	nav("the placement groups", "#/placement-groups")
	b.waitFor("the placement group", rowWith("browser-pg", "CREATED"), 30*time.Second)
	b.screenshot("placement-groups")

	nav("serve", "#/serve")
	b.waitFor("the serve application's replicas", `(() => {
		const app = document.querySelector('.serve-app[data-id="hello"]');
		if (!app || !app.textContent.includes("RUNNING")) return false;
		const running = (dep) => [...app.querySelectorAll('.serve-deployment[data-id="' + dep + '"] tbody tr')].filter((r) => r.textContent.includes("RUNNING")).length;
		return running("Hello") === 2 && running("Echo") === 1;
	})()`, 30*time.Second)
	b.screenshot("serve")

	nav("the nodes", "#/nodes")
	b.waitFor("3 alive nodes", `[...document.querySelectorAll("#view tbody tr")].filter((r) => r.textContent.includes("ALIVE")).length === 3`, 30*time.Second)
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		b.waitFor("node "+ip, rowWith(ip, "ALIVE"), 5*time.Second)
	}
	b.screenshot("nodes")
	// The greeter's node lists its worker's log file, which shows what the
	// greeter printed.
	b.do("open the greeter's node", 15*time.Second, chromedp.Click(chromedp.CSS(`#view tr[data-id="`+greeterNode+`"] a.node-logs`)))
	b.waitFor("the worker's log file listed", `[...document.querySelectorAll('.log-category[data-id="worker_out"] a.log-link')].some((a) => a.textContent === `+strconv.Quote(greeterLog)+`)`, 30*time.Second)
	b.screenshot("node")
	b.eval(`[...document.querySelectorAll("a.log-link")].find((a) => a.textContent === ` + strconv.Quote(greeterLog) + `).click()`)
	b.waitFor("the log file", `/greeter ready\n[^]*greeting 2\n/.test(document.getElementById("log-view")?.textContent || "")`, 30*time.Second)
	b.screenshot("node-log")

	nav("the cluster events", "#/events")
	b.waitFor("the job's events", rowWith("Job "+job+" is STOPPED", "JOBS", "WARNING"), 30*time.Second)
	b.waitFor("the nodes' events", rowWith("worker node", "(127.0.0.2,", "registered"), 10*time.Second)
	b.waitFor("the failed task's event", rowWith("browser.failing", "CORE_WORKER", "ERROR"), 30*time.Second)
	b.screenshot("events")
	// Filtered by severity in the GCS: only errors remain.
	b.eval(`(() => { const s = document.getElementById("event-severity"); s.value = "ERROR"; s.dispatchEvent(new Event("change")); })()`)
	b.waitFor("only errors", `(() => {
		const rows = [...document.querySelectorAll("#view tbody tr")];
		return rows.length > 0 && rows.every((r) => r.textContent.includes("ERROR")) && rows.some((r) => r.textContent.includes("browser.failing"));
	})()`, 15*time.Second)

	// Behind a proxy that serves the dashboard under /goray/: the page
	// and its API calls stay under the prefix, and the session cookie of
	// the first login (scoped to /api) is not sent there, so it asks again.
	target, _ := url.Parse(dash)
	proxy := httptest.NewServer(http.StripPrefix("/goray", httputil.NewSingleHostReverseProxy(target)))
	t.Cleanup(proxy.Close)
	b.do("open the page behind the proxy", 30*time.Second, chromedp.Navigate(proxy.URL+"/goray/"))
	login("behind the proxy")
	b.waitFor("the overview behind the proxy", `document.getElementById("nodes-alive")?.textContent === "3"`, 30*time.Second)
	nav("the actors behind the proxy", "#/actors")
	b.waitFor("the actor behind the proxy", rowWith("browser-greeter", "ALIVE"), 30*time.Second)
	b.screenshot("behind-a-proxy")
}

// stateRow is the one row of a state API list matching key=value pairs,
// read with the token.
func stateRow(t *testing.T, dash, resource string, kv ...string) map[string]any {
	t.Helper()
	q := url.Values{"detail": {"true"}}
	for i := 0; i+1 < len(kv); i += 2 {
		q.Add("filter_keys", kv[i])
		q.Add("filter_predicates", "=")
		q.Add("filter_values", kv[i+1])
	}
	hc := &http.Client{Transport: auth.NewToken(token).Transport(nil), Timeout: 30 * time.Second}
	var body struct {
		Data struct {
			Result struct {
				Result []map[string]any `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	resp, err := hc.Get(dash + "/api/v0/" + resource + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || len(body.Data.Result.Result) != 1 {
		t.Fatalf("%s where %v: %d rows (%v)", resource, kv, len(body.Data.Result.Result), err)
	}
	return body.Data.Result.Result[0]
}

var tickRE = regexp.MustCompile(`tick (\d+)\n`)

// lastTick is the number of the last "tick N" line of a log.
func lastTick(log string) int {
	n := 0
	for _, m := range tickRE.FindAllStringSubmatch(log, -1) {
		if v, _ := strconv.Atoi(m[1]); v > n {
			n = v
		}
	}
	return n
}

func waitUntil(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(end) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
