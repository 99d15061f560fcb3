package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jobapi "github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
	"github.com/goray-dev/goray/runtime/ray"
	stateapi "github.com/goray-dev/goray/runtime/state"
)

// chatty prints its message in the worker that runs it (the worker's log).
var chatty = ray.Task("it.chatty", func(ctx context.Context, msg string) (int, error) {
	fmt.Println(msg)
	return os.Getpid(), nil
})

// actorSay prints in the actor's worker.
var actorSay = ray.Method(stateful, "say", func(s *state, ctx context.Context, msg string) (int, error) {
	fmt.Println(msg)
	return os.Getpid(), nil
})

// TestClusterEventsAndLogs: what happens in the cluster (a worker crashing,
// an actor killed, a job submitted and finishing) is listed as cluster
// events by the API and `goray list cluster-events`; an actor's, a task's,
// a job driver's and a worker's (by pid) log lines come back through the
// head from the node that holds them, by the API and `goray logs`; a
// follow sees a line printed after it started; bad requests are refused
// with a 4xx saying why.
func TestClusterEventsAndLogs(t *testing.T) {
	ctx := context.Background()
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(gorayBin, append(args, "--address", dashboardAddress)...).CombinedOutput()
		if err != nil {
			t.Fatalf("goray %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}

	// A worker crashing mid-task (retried, then succeeding).
	marker := filepath.Join(t.TempDir(), "crashed")
	if v, err := ray.Get(ctx, crashOnce.Remote(ctx, marker)); err != nil || v != 42 {
		t.Fatalf("crash_once: %v %v", v, err)
	}
	// An actor that prints, then is killed.
	actorName := runName("observe-doomed")
	a, err := stateful.Remote(ctx, ray.Name(actorName))
	if err != nil {
		t.Fatal(err)
	}
	actorPID, err := ray.Get(ctx, actorSay.Remote(ctx, a, "actor-line-1 from the doomed actor"))
	if err != nil {
		t.Fatal(err)
	}
	// A task that prints.
	taskPID, err := ray.Get(ctx, chatty.Remote(ctx, "task-line from it.chatty"))
	if err != nil {
		t.Fatal(err)
	}
	// A submitted job that prints.
	jc, err := jobclient.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := jc.Submit(ctx, jobapi.SubmitRequest{Entrypoint: "echo driver-line from the job"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the job SUCCEEDED", func() bool {
		d, err := jc.Get(ctx, sub)
		return err == nil && d.Status == jobapi.StatusSucceeded
	})

	var actorID string
	waitUntil(t, "the actor listed", func() bool {
		as, _, err := c.ListActors(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "name", Predicate: "=", Value: actorName}}})
		if err == nil && len(as) == 1 {
			actorID = as[0].ActorID
		}
		return actorID != ""
	})
	var taskID, taskNode string
	waitUntil(t, "the chatty task listed with its worker", func() bool {
		ts, _, err := c.ListTasks(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "name", Predicate: "=", Value: "it.chatty"}, {Key: "state", Predicate: "=", Value: "FINISHED"}}})
		for _, x := range ts { // this run's (a -count run's earlier ones are listed too)
			if err == nil && x.WorkerID != "" && x.WorkerPID == taskPID {
				taskID, taskNode = x.TaskID, x.NodeID
			}
		}
		return taskID != ""
	})

	// Logs: the actor's, the task's, the job driver's, by pid; API and CLI.
	get := func(path string, q url.Values) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + dashboardAddress + path + "?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/api/v0/logs/file", url.Values{"actor_id": {actorID}, "lines": {"50"}}); code != 200 || !strings.Contains(body, "actor-line-1 from the doomed actor") {
		t.Errorf("actor log: %d %q", code, body)
	}
	if code, body := get("/api/v0/logs/file", url.Values{"task_id": {taskID}}); code != 200 || !strings.Contains(body, "task-line from it.chatty") {
		t.Errorf("task log: %d %q", code, body)
	}
	if code, body := get("/api/v0/logs/file", url.Values{"pid": {fmt.Sprint(taskPID)}, "node_id": {taskNode}}); code != 200 || !strings.Contains(body, "task-line from it.chatty") {
		t.Errorf("log by pid %d: %d %q", taskPID, code, body)
	}
	if out := cli("logs", "job", "--id", sub); !strings.Contains(out, "driver-line from the job") {
		t.Errorf("goray logs job:\n%s", out)
	}
	if out := cli("logs", "actor", "--id", actorID, "--tail", "5"); !strings.Contains(out, "actor-line-1") {
		t.Errorf("goray logs actor:\n%s", out)
	}
	if out := cli("logs", "task", "--id", taskID); !strings.Contains(out, "task-line from it.chatty") {
		t.Errorf("goray logs task:\n%s", out)
	}
	// A node's listing by category, and one file of it by name.
	if out := cli("logs"); !strings.Contains(out, "driver:") || !strings.Contains(out, "job-driver-"+sub+".log") {
		t.Errorf("goray logs (the head's files):\n%s", out)
	}
	cats, err := c.ListLogs(ctx, taskNode, "", "worker-*")
	if err != nil || len(cats["worker_out"]) == 0 || len(cats) != 1 {
		t.Fatalf("the task node's worker logs: %v %v", cats, err)
	}
	if out := cli("logs", "--node-id", taskNode, "worker-*"); !strings.Contains(out, "worker_out:") {
		t.Errorf("goray logs --node-id %s 'worker-*':\n%s", taskNode, out)
	}
	var sawTask bool
	for _, name := range cats["worker_out"] {
		out := cli("logs", name, "--node-id", taskNode, "--tail", "-1")
		sawTask = sawTask || strings.Contains(out, "task-line from it.chatty")
	}
	if !sawTask {
		t.Errorf("no worker log of node %s holds the task's line", taskNode)
	}

	// Following the actor's log sees a line printed after it started.
	streamCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	lines := followLines(t, streamCtx, "http://"+dashboardAddress+"/api/v0/logs/stream?"+
		url.Values{"actor_id": {actorID}, "lines": {"1"}, "timeout": {"15"}}.Encode())
	if _, err := ray.Get(ctx, actorSay.Remote(ctx, a, "actor-line-2 printed while followed")); err != nil {
		t.Fatal(err)
	}
	for followed := false; !followed; {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended before the new line")
			}
			followed = strings.Contains(l, "actor-line-2 printed while followed")
		case <-streamCtx.Done():
			t.Fatal("the followed log did not show the new line")
		}
	}
	cancel()

	if err := ray.Kill(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	// The killed actor's log is still there (its worker's file stays).
	if out := cli("logs", "worker", "--pid", fmt.Sprint(actorPID), "--node-id", nodeOfActor(t, c, actorID)); !strings.Contains(out, "actor-line-2") {
		t.Errorf("goray logs worker --pid:\n%s", out)
	}

	// Cluster events: the worker crash, the actor's death, the job's statuses.
	want := map[string]func(stateapi.ClusterEvent) bool{
		"a worker died unexpectedly": func(e stateapi.ClusterEvent) bool {
			return e.Severity == "ERROR" && e.SourceType == "RAYLET" && strings.Contains(e.Message, "died unexpectedly") && strings.Contains(e.Message, "exit status 3")
		},
		"the actor is dead": func(e stateapi.ClusterEvent) bool {
			return e.SourceType == "GCS" && strings.Contains(e.Message, "actor "+actorID) && strings.Contains(e.Message, "is dead") && e.CustomFields["actor_id"] == actorID
		},
		"the job submitted": func(e stateapi.ClusterEvent) bool {
			return e.SourceType == "JOBS" && strings.Contains(e.Message, "Job "+sub+" submitted")
		},
		"the job succeeded": func(e stateapi.ClusterEvent) bool {
			return e.SourceType == "JOBS" && e.Severity == "INFO" && strings.Contains(e.Message, "Job "+sub+" is SUCCEEDED")
		},
		"the head registered": func(e stateapi.ClusterEvent) bool {
			return e.SourceType == "GCS" && strings.Contains(e.Message, "head node") && e.CustomFields["node_ip"] == "127.0.0.1"
		},
	}
	var evs []stateapi.ClusterEvent
	for deadline := time.Now().Add(20 * time.Second); len(want) > 0; time.Sleep(200 * time.Millisecond) {
		if evs, _, err = c.ListClusterEvents(ctx, stateapi.Options{Detail: true, Limit: 10_000}); err != nil {
			t.Fatal(err)
		}
		for what, match := range want {
			for _, e := range evs {
				if match(e) {
					delete(want, what)
					break
				}
			}
		}
		if len(want) > 0 && time.Now().After(deadline) {
			var b strings.Builder
			for _, e := range evs {
				fmt.Fprintf(&b, "%s %s %s %v\n", e.Severity, e.SourceType, e.Message, e.CustomFields)
			}
			t.Fatalf("missing cluster events %v among:\n%s", want, b.String())
		}
	}
	// Over the default limit (100) when tests that kill nodes ran first
	// (-shuffle): ask for all, so that every match is listed.
	errs, meta, err := c.ListClusterEvents(ctx, stateapi.Options{Limit: 10_000, Filters: []stateapi.Filter{{Key: "severity", Predicate: "=", Value: "error"}}})
	if err != nil || len(errs) == 0 || meta.NumFiltered != len(errs) {
		t.Errorf("ERROR events: %d (%+v, %v)", len(errs), meta, err)
	}
	for _, e := range errs {
		if e.Severity != "ERROR" || e.EventID == "" || e.Time == "" {
			t.Errorf("filtered event: %+v", e)
		}
	}
	if out := cli("list", "cluster-events", "-f", "source_type=JOBS"); !strings.Contains(out, "Job "+sub+" is SUCCEEDED") || !strings.Contains(out, "SOURCE_TYPE") {
		t.Errorf("goray list cluster-events:\n%s", out)
	}
	out := cli("list", "cluster-events", "--format", "json", "--detail", "-f", "severity=WARNING")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) == 0 || rows[0]["custom_fields"] == nil {
		t.Errorf("goray list cluster-events --format json --detail: %v\n%s", err, out)
	}

	// Refusals: 4xx with a clear message.
	refused := []struct {
		path string
		q    url.Values
		code int
		msg  string
	}{
		{"/api/v0/logs/file", url.Values{"node_id": {taskNode}, "filename": {"../../../etc/passwd"}}, 400, "not a file name"},
		{"/api/v0/logs/file", url.Values{"node_id": {taskNode}, "filename": {".."}}, 400, "not a file name"},
		{"/api/v0/logs/file", url.Values{"node_id": {taskNode}, "filename": {"passwd"}}, 404, `no such log file "passwd"`},
		{"/api/v0/logs/file", url.Values{"node_id": {"0123456789abcdef"}, "filename": {"worker-x.log"}}, 404, "not in the cluster"},
		{"/api/v0/logs/file", url.Values{}, 400, "name the log"},
		{"/api/v0/logs/file", url.Values{"filename": {"worker-x.log"}}, 400, "need node_id or node_ip"},
		{"/api/v0/logs/file", url.Values{"actor_id": {"ffffffffffffffff"}}, 404, "does not exist"},
		{"/api/v0/logs/file", url.Values{"task_id": {"nosuchtask"}}, 404, "not in the task history"},
		{"/api/v0/logs/file", url.Values{"actor_id": {actorID}, "lines": {"many"}}, 400, "lines must be an integer"},
		{"/api/v0/logs/stream", url.Values{"actor_id": {actorID}, "timeout": {"99999"}}, 400, "timeout must be seconds"},
		{"/api/v0/logs", url.Values{}, 400, "node_id or node_ip is required"},
		{"/api/v0/logs", url.Values{"node_ip": {"127.0.0.99"}}, 404, "no node with ip 127.0.0.99"},
		{"/api/v0/cluster_events", url.Values{"filter_keys": {"message"}, "filter_predicates": {"="}, "filter_values": {"x"}}, 400, "supported filter columns"},
	}
	for _, r := range refused {
		code, body := get(r.path, r.q)
		var env struct {
			Result bool   `json:"result"`
			Msg    string `json:"msg"`
		}
		if code != r.code || json.Unmarshal([]byte(body), &env) != nil || env.Result || !strings.Contains(env.Msg, r.msg) {
			t.Errorf("%s?%s: %d %s; want %d with %q", r.path, r.q.Encode(), code, body, r.code, r.msg)
		}
	}
	// The agent itself serves nothing outside its listing either.
	agent := "http://127.0.0.2:" + agentPortOf(t) + "/api/v0/agent/logs/file?filename=" + url.QueryEscape("../../gcs_address")
	if code := statusOf(t, agent); code != http.StatusBadRequest {
		t.Errorf("agent traversal: %d", code)
	}
}

func nodeOfActor(t *testing.T, c *stateapi.Client, id string) string {
	t.Helper()
	a, err := c.GetActor(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return a.NodeID
}

// agentPortOf is the node agents' port, from the head process's flags.
func agentPortOf(t *testing.T) string {
	t.Helper()
	for _, a := range procs["127.0.0.1"].Args {
		if p, ok := strings.CutPrefix(a, "--dashboard-agent-listen-port="); ok {
			return p
		}
	}
	t.Fatal("no agent port in the head's flags")
	return ""
}

// followLines streams a log's lines until ctx ends (then the channel closes).
func followLines(t *testing.T, ctx context.Context, u string) <-chan string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req) //nolint:bodyclose // the reading goroutine closes it
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		_ = resp.Body.Close()
		t.Fatalf("stream: %s", resp.Status)
	}
	lines := make(chan string, 100)
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return lines
}

func statusOf(t *testing.T, u string) int {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode
}
