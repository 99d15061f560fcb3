package dashboard

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/taskevents"
)

// stateGcs answers the state API's GCS calls from fixed tables and a real
// task history.
type stateGcs struct {
	fakeGcs
	history *taskevents.History
}

func (f *stateGcs) ListTasks(_ context.Context, in *rpcpb.ListTasksRequest, _ ...grpc.CallOption) (*rpcpb.TaskList, error) {
	l, err := f.history.List(in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return l, nil
}

func (f *stateGcs) ListActors(context.Context, *rpcpb.Empty, ...grpc.CallOption) (*rpcpb.ActorList, error) {
	return &rpcpb.ActorList{Actors: []*rpcpb.ActorInfo{
		{ActorId: "a1", ClassName: "Counter", State: rpcpb.ActorState_ALIVE, JobId: "01000000", NodeId: "n1", Pid: 42, Namespace: "default", Name: "c"},
		{ActorId: "a2", ClassName: "Counter", State: rpcpb.ActorState_DEAD, JobId: "01000000", DeathCause: "killed by ray.Kill", IsDetached: true},
	}}, nil
}

func (f *stateGcs) GetNodes(context.Context, *rpcpb.GetNodesRequest, ...grpc.CallOption) (*rpcpb.ClusterView, error) {
	return &rpcpb.ClusterView{Nodes: []*rpcpb.NodeView{
		{NodeId: "n1", Ip: "127.0.0.1", Alive: true, IsHead: true, Total: map[string]float64{"CPU": 2}},
		{NodeId: "n2", Ip: "127.0.0.2", Alive: false, DeathReason: "missed heartbeats"},
	}}, nil
}

func (f *stateGcs) ListPlacementGroups(context.Context, *rpcpb.Empty, ...grpc.CallOption) (*rpcpb.PlacementGroupList, error) {
	return &rpcpb.PlacementGroupList{PlacementGroups: []*rpcpb.PlacementGroupInfo{{PlacementGroupId: "pg1", State: "CREATED",
		BundleNodes: []string{"n1"}, Spec: &rpcpb.PlacementGroupSpec{Name: "gang", JobId: "01000000",
			Bundles: []*rpcpb.Bundle{{Resources: map[string]float64{"CPU": 1}}}}}}}, nil
}

func (f *stateGcs) GetJobs(context.Context, *rpcpb.Empty, ...grpc.CallOption) (*rpcpb.JobList, error) {
	return &rpcpb.JobList{Jobs: []*rpcpb.JobInfo{{JobId: "01000000"}, {JobId: "02000000", Finished: true, StartTimeMs: 5}}}, nil
}

type listAnswer struct {
	Result bool   `json:"result"`
	Msg    string `json:"msg"`
	Data   struct {
		Result struct {
			Total       int              `json:"total"`
			NumFiltered int              `json:"num_filtered"`
			Result      json.RawMessage  `json:"result"`
			Warnings    []string         `json:"warnings"`
			Rows        []map[string]any `json:"-"`
		} `json:"result"`
	} `json:"data"`
}

func stateServer(t *testing.T) *Server {
	// Through a process's buffer, as the runtime sends them.
	b := taskevents.NewBuffer(0, 0)
	ev := func(task string, st taskevents.Status, sec int64) taskevents.Event {
		return taskevents.Event{Key: taskevents.Key{TaskID: task}, JobID: "01000000", Status: st, TimeNs: sec * 1e9}
	}
	e := ev("t1", taskevents.PendingNodeAssignment, 1)
	e.Info = &rpcpb.TaskInfo{Name: "square", RequiredResources: map[string]float64{"CPU": 1}}
	b.Add(e)
	e = ev("t1", taskevents.Running, 2)
	e.Where = &rpcpb.TaskWhere{NodeId: "n1", WorkerId: "w1", WorkerPid: 7}
	b.Add(e)
	b.Add(ev("t1", taskevents.Finished, 3))
	e = ev("t2", taskevents.Failed, 4)
	e.Info, e.ErrType, e.ErrMsg = &rpcpb.TaskInfo{Name: "boom"}, "TASK_EXECUTION_EXCEPTION", "no luck"
	b.Add(e)
	e = ev("t3", taskevents.SubmittedToWorker, 5)
	e.Info = &rpcpb.TaskInfo{Name: "Counter.incr", Type: rpcpb.TaskInfo_ACTOR_TASK, ActorId: "a1"}
	b.Add(e)
	batch := b.Take()
	batch.Dropped = map[string]int64{"01000000": 2}
	h := taskevents.NewHistory(0)
	h.Add(batch)
	s := New(&stateGcs{history: h}, "")
	s.State.Jobs = func(context.Context) ([]api.JobDetails, error) {
		id, sub := "01000000", "raysubmit_1"
		return []api.JobDetails{{Type: "SUBMISSION", JobID: &id, SubmissionID: &sub, Status: api.StatusRunning, Entrypoint: "./square"}}, nil
	}
	return s
}

func list(t *testing.T, s *Server, path string, query url.Values) (int, listAnswer, []map[string]any) {
	t.Helper()
	if query != nil {
		path += "?" + query.Encode()
	}
	code, body := get(t, s.Mux, path)
	var a listAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, body)
	}
	var rows []map[string]any
	if a.Result && strings.HasPrefix(strings.TrimSpace(string(a.Data.Result.Result)), "[") {
		if err := json.Unmarshal(a.Data.Result.Result, &rows); err != nil {
			t.Fatal(err)
		}
	}
	return code, a, rows
}

func TestStateAPITasks(t *testing.T) {
	s := stateServer(t)
	code, a, rows := list(t, s, "/api/v0/tasks", url.Values{"detail": {"true"}})
	if code != 200 || !a.Result || a.Data.Result.Total != 3 || len(rows) != 3 || len(a.Data.Result.Warnings) != 1 {
		t.Fatalf("tasks: %d %+v rows %d", code, a, len(rows))
	}
	t1 := rows[2] // newest first
	if t1["task_id"] != "t1" || t1["state"] != "FINISHED" || t1["func_or_class_name"] != "square" || t1["node_id"] != "n1" ||
		t1["worker_pid"] != 7.0 || t1["start_time_ms"] != 2000.0 || t1["end_time_ms"] != 3000.0 || t1["creation_time_ms"] != 1000.0 ||
		t1["language"] != "GO" || len(t1["events"].([]any)) != 3 {
		t.Errorf("t1: %v", t1)
	}
	// Ray's filter parameters, without detail: base columns only.
	code, a, rows = list(t, s, "/api/v0/tasks", url.Values{"filter_keys": {"state", "job_id"}, "filter_predicates": {"=", "="},
		"filter_values": {"failed", "01000000"}, "limit": {"10"}})
	if code != 200 || a.Data.Result.NumFiltered != 1 || len(rows) != 1 || rows[0]["error_type"] != "TASK_EXECUTION_EXCEPTION" {
		t.Fatalf("state=failed: %d %+v %v", code, a, rows)
	}
	if _, ok := rows[0]["error_message"]; ok {
		t.Errorf("a detail column without detail=true: %v", rows[0])
	}
	// Bad queries are 400s that say what is wrong.
	for q, want := range map[string]string{
		"filter_keys=colour&filter_predicates==&filter_values=red": "colour\\\" is not supported",
		"filter_keys=state&filter_predicates=>&filter_values=x":    "available predicates: =, !=",
		"limit=0":                               "limit must be a positive integer",
		"filter_keys=state&filter_predicates==": "same number",
	} {
		code, body := get(t, s.Mux, "/api/v0/tasks?"+q)
		if code != 400 || !strings.Contains(body, want) || !strings.Contains(body, `"result":false`) {
			t.Errorf("%s: %d %s, want 400 with %q", q, code, body, want)
		}
	}
}

func TestStateAPIActorsNodesGroupsJobs(t *testing.T) {
	s := stateServer(t)
	_, _, rows := list(t, s, "/api/v0/actors", url.Values{"filter_keys": {"state"}, "filter_predicates": {"="}, "filter_values": {"DEAD"}, "detail": {"1"}})
	if len(rows) != 1 || rows[0]["actor_id"] != "a2" || rows[0]["is_detached"] != true ||
		!strings.Contains(rows[0]["death_cause"].(map[string]any)["actor_died_error_context"].(map[string]any)["error_message"].(string), "ray.Kill") {
		t.Errorf("dead actors: %v", rows)
	}
	_, _, rows = list(t, s, "/api/v0/nodes", url.Values{"filter_keys": {"is_head_node"}, "filter_predicates": {"="}, "filter_values": {"True"}})
	if len(rows) != 1 || rows[0]["node_id"] != "n1" || rows[0]["state"] != "ALIVE" {
		t.Errorf("head nodes: %v", rows)
	}
	_, _, rows = list(t, s, "/api/v0/nodes", url.Values{"filter_keys": {"state"}, "filter_predicates": {"="}, "filter_values": {"dead"}})
	if len(rows) != 1 || rows[0]["state_message"] != "missed heartbeats" {
		t.Errorf("dead nodes: %v", rows)
	}
	_, _, rows = list(t, s, "/api/v0/placement_groups", url.Values{"detail": {"true"}})
	if len(rows) != 1 || rows[0]["name"] != "gang" || rows[0]["state"] != "CREATED" || len(rows[0]["bundles"].([]any)) != 1 {
		t.Errorf("placement groups: %v", rows)
	}
	_, _, rows = list(t, s, "/api/v0/jobs", nil)
	if len(rows) != 2 || rows[0]["submission_id"] != "raysubmit_1" || rows[1]["job_id"] != "02000000" || rows[1]["type"] != "DRIVER" || rows[1]["status"] != "SUCCEEDED" {
		t.Errorf("jobs (a submission and a driver run by hand): %v", rows)
	}
}

func TestStateAPISummaries(t *testing.T) {
	s := stateServer(t)
	code, body := get(t, s.Mux, "/api/v0/tasks/summarize")
	var a struct {
		Data struct {
			Result struct {
				Result struct {
					NodeIDToSummary map[string]struct {
						Summary map[string]struct {
							StateCounts map[string]int `json:"state_counts"`
						} `json:"summary"`
						TotalTasks      int `json:"total_tasks"`
						TotalActorTasks int `json:"total_actor_tasks"`
					} `json:"node_id_to_summary"`
				} `json:"result"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &a); code != 200 || err != nil {
		t.Fatalf("%d %v %s", code, err, body)
	}
	c := a.Data.Result.Result.NodeIDToSummary["cluster"]
	if c.TotalTasks != 2 || c.TotalActorTasks != 1 || c.Summary["square"].StateCounts["FINISHED"] != 1 || c.Summary["boom"].StateCounts["FAILED"] != 1 {
		t.Errorf("task summary: %s", body)
	}
	code, body = get(t, s.Mux, "/api/v0/actors/summarize")
	if code != 200 || !strings.Contains(body, `"Counter":{"class_name":"Counter","state_counts":{"ALIVE":1,"DEAD":1}}`) || !strings.Contains(body, `"total_actors":2`) {
		t.Errorf("actor summary: %d %s", code, body)
	}
}
