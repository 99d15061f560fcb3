package integration

import (
	"context"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
	"github.com/goray-dev/goray/runtime/ray"
	stateapi "github.com/goray-dev/goray/runtime/state"
)

// The state API on the head's dashboard and `goray list|get|summary` see
// what runs: tasks (a failed one with its error), actors (a killed one DEAD
// with its death cause), nodes, placement groups and jobs, with Ray's field
// names, filters and limits.
func TestStateAPI(t *testing.T) {
	ctx := context.Background()
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, failing.Remote(ctx, "state API failure", ray.MaxRetries(0))); err == nil {
		t.Fatal("the failing task succeeded")
	}
	// Names of this run's own (a -count run's earlier actors and groups
	// stay listed, dead or removed).
	aliveName, doomedName, pgName := runName("state-api-alive"), runName("state-api-doomed"), runName("state-api-pg")
	alive, err := stateful.Remote(ctx, ray.Name(aliveName))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, alive, true) }()
	if _, err := ray.Get(ctx, actorWhere.Remote(ctx, alive)); err != nil {
		t.Fatal(err)
	}
	doomed, err := stateful.Remote(ctx, ray.Name(doomedName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ray.Get(ctx, actorWhere.Remote(ctx, doomed)); err != nil {
		t.Fatal(err)
	}
	if err := ray.Kill(ctx, doomed, true); err != nil {
		t.Fatal(err)
	}
	pg, err := ray.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 1}}, "PACK", ray.Name(pgName))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.RemovePlacementGroup(ctx, pg) }()
	if err := pg.Ready(ctx); err != nil {
		t.Fatal(err)
	}

	// Actors: the killed one DEAD with why, the other ALIVE on a node with a pid.
	var actors []stateapi.Actor
	waitUntil(t, "both actors listed, the killed one DEAD", func() bool {
		actors, _, err = c.ListActors(ctx, stateapi.Options{Detail: true, Filters: []stateapi.Filter{{Key: "class_name", Predicate: "=", Value: "it.Stateful"}, {Key: "name", Predicate: "!=", Value: ""}}})
		if err != nil {
			t.Fatal(err)
		}
		dead := 0
		for _, a := range actors {
			if a.Name == doomedName && a.State == "DEAD" && a.DeathCause != nil && a.DeathCause.Context.ErrorMessage != "" {
				dead++
			}
		}
		return dead == 1
	})
	for _, a := range actors {
		if a.Name == aliveName && (a.State != "ALIVE" || a.NodeID == "" || a.PID == 0 || a.JobID != ray.JobID()) {
			t.Errorf("the live actor: %+v", a)
		}
	}
	// Tasks: the failed one with its error (after the once-a-second report).
	var failed []stateapi.Task
	waitUntil(t, "the failed task listed", func() bool {
		failed, _, err = c.ListTasks(ctx, stateapi.Options{Detail: true, Filters: []stateapi.Filter{{Key: "state", Predicate: "=", Value: "FAILED"}, {Key: "name", Predicate: "=", Value: "it.failing"}}})
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range failed {
			if strings.Contains(f.ErrorMessage, "state API failure") {
				return true
			}
		}
		return false
	})
	if f := failed[0]; f.ErrorType != "TASK_EXECUTION_EXCEPTION" || f.JobID != ray.JobID() || f.Type != "NORMAL_TASK" || f.EndTimeMs == 0 {
		t.Errorf("failed task: %+v", f)
	}
	// Limits cut the answer, not the count.
	one, meta, err := c.ListTasks(ctx, stateapi.Options{Limit: 1})
	if err != nil || len(one) != 1 || meta.NumFiltered < 3 {
		t.Errorf("limit=1: %d tasks of %d (%v)", len(one), meta.NumFiltered, err)
	}
	nodes, _, err := c.ListNodes(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "state", Predicate: "=", Value: "ALIVE"}}})
	if err != nil || len(nodes) < 3 {
		t.Errorf("alive nodes: %d (%v)", len(nodes), err)
	}
	heads, _, err := c.ListNodes(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "is_head_node", Predicate: "=", Value: "true"}}})
	if err != nil || len(heads) != 1 || heads[0].NodeIP != "127.0.0.1" {
		t.Errorf("head node: %+v (%v)", heads, err)
	}
	pgs, _, err := c.ListPlacementGroups(ctx, stateapi.Options{Detail: true, Filters: []stateapi.Filter{{Key: "name", Predicate: "=", Value: pgName}}})
	if err != nil || len(pgs) != 1 || pgs[0].State != "CREATED" || len(pgs[0].Bundles) != 1 || pgs[0].Bundles[0].NodeID == "" {
		t.Errorf("placement group: %+v (%v)", pgs, err)
	}
	jobs, _, err := c.ListJobs(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "job_id", Predicate: "=", Value: ray.JobID()}}})
	if err != nil || len(jobs) != 1 || jobs[0].Type != "DRIVER" || jobs[0].Status != "RUNNING" {
		t.Errorf("this driver's job: %+v (%v)", jobs, err)
	}
	// A submitted job, through Ray's job API.
	jc, err := jobclient.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := jc.Submit(ctx, api.SubmitRequest{Entrypoint: "echo state-api-job"})
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the submitted job listed SUCCEEDED", func() bool {
		jobs, _, err = c.ListJobs(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "submission_id", Predicate: "=", Value: sub}}})
		if err != nil {
			t.Fatal(err)
		}
		return len(jobs) == 1 && jobs[0].Status == "SUCCEEDED"
	})
	if jobs[0].Type != "SUBMISSION" || jobs[0].Entrypoint != "echo state-api-job" {
		t.Errorf("the submitted job: %+v", jobs[0])
	}
	// Workers: the actor's worker alive on its node with its pid; the
	// killed actor's worker exited as the user asked.
	var workers []map[string]any
	waitUntil(t, "the killed actor's worker listed as exited", func() bool {
		workers, _, err = c.List(ctx, "workers", stateapi.Options{Detail: true, Limit: 10_000})
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range workers {
			if w["is_alive"] == false && w["exit_type"] == "INTENDED_USER_EXIT" {
				return true
			}
		}
		return false
	})
	alivePID := 0
	for _, a := range actors {
		if a.Name == aliveName {
			alivePID = a.PID
		}
	}
	found := false
	for _, w := range workers {
		found = found || (w["is_alive"] == true && int(w["pid"].(float64)) == alivePID && w["node_id"] != "" && w["worker_type"] == "WORKER")
	}
	if !found {
		t.Errorf("no live worker with the actor's pid %d among %d workers", alivePID, len(workers))
	}
	// Objects: one this driver puts, and one a task made that it holds.
	put, err := ray.Put(ctx, strings.Repeat("x", 200<<10)) // in a node's store
	if err != nil {
		t.Fatal(err)
	}
	made := whereAmI.Remote(ctx, 0)
	if _, err := ray.Get(ctx, made); err != nil {
		t.Fatal(err)
	}
	// Both held to the end (the CLI's summary lists them last): a Ref the
	// collector finds unreachable is released, and the driver collects
	// every few seconds while idle.
	t.Cleanup(func() { runtime.KeepAlive(put); runtime.KeepAlive(made) })
	objs, _, err := c.List(ctx, "objects", stateapi.Options{Limit: 10_000, Filters: []stateapi.Filter{{Key: "type", Predicate: "=", Value: "DRIVER"}}})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]map[string]any{}
	for _, o := range objs {
		byID[o["object_id"].(string)] = o
	}
	if o := byID[put.ID()]; o == nil || o["task_status"] != "FINISHED" || o["reference_type"] != "LOCAL_REFERENCE" || o["object_size"].(float64) < 200<<10 || o["call_site"] != "disabled" {
		t.Errorf("the put object: %v (of %d listed)", o, len(objs))
	}
	if o := byID[made.ID()]; o == nil || o["task_status"] != "FINISHED" {
		t.Errorf("the task's result: %v", o)
	}
	// A bad filter is refused with the reason.
	if _, _, err := c.ListTasks(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "colour", Predicate: "=", Value: "red"}}}); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "supported filter columns") {
		t.Errorf("bad filter: %v", err)
	}

	// The CLI prints the same.
	cli := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(gorayBin, append(args, "--address", dashboardAddress)...).CombinedOutput()
		if err != nil {
			t.Fatalf("goray %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if out := cli("list", "tasks", "-f", "state=FAILED", "-f", "name=it.failing"); !strings.Contains(out, "TASK_EXECUTION_EXCEPTION") || !strings.Contains(out, "FUNC_OR_CLASS_NAME") {
		t.Errorf("goray list tasks:\n%s", out)
	}
	// By name too: the list stops at 100 rows, and other tests of the
	// package (run before this one, or again with -count) leave dead actors.
	if out := cli("list", "actors", "--filter", "state=DEAD", "--filter", "name="+doomedName, "--format", "json"); !strings.Contains(out, `"`+doomedName+`"`) {
		t.Errorf("goray list actors --format json:\n%s", out)
	}
	if out := cli("list", "placement-groups"); !strings.Contains(out, pgName) {
		t.Errorf("goray list placement-groups:\n%s", out)
	}
	var deadID string
	for _, a := range actors {
		if a.Name == doomedName {
			deadID = a.ActorID
		}
	}
	if out := cli("get", "actors", deadID); !strings.Contains(out, "death_cause:") || !strings.Contains(out, "state: DEAD") {
		t.Errorf("goray get actors %s:\n%s", deadID, out)
	}
	if out := cli("list", "workers", "-f", "is_alive=true"); !strings.Contains(out, "WORKER_ID") || !strings.Contains(out, "WORKER") {
		t.Errorf("goray list workers:\n%s", out)
	}
	if out := cli("summary", "objects"); !strings.Contains(out, "disabled") || !strings.Contains(out, "LOCAL_REFERENCE") {
		t.Errorf("goray summary objects:\n%s", out)
	}
	if out := cli("summary", "tasks"); !strings.Contains(out, "it.failing") || !strings.Contains(out, "FAILED: ") {
		t.Errorf("goray summary tasks:\n%s", out)
	}
	if out := cli("summary", "actors"); !strings.Contains(out, "it.Stateful") || !strings.Contains(out, "DEAD: ") {
		t.Errorf("goray summary actors:\n%s", out)
	}
}

// runName is prefix made unique to this run of a test.
func runName(prefix string) string { return fmt.Sprintf("%s-%x", prefix, time.Now().UnixNano()) }

func waitUntil(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 20 s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
