package dashboard

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The columns of Ray's TaskState, ActorState, NodeState,
// PlacementGroupState and JobState (ray.util.state.common).
var (
	taskSchema = newSchema(
		[]string{"task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type", "func_or_class_name",
			"parent_task_id", "node_id", "worker_id", "worker_pid", "error_type"},
		[]string{"language", "required_resources", "runtime_env_info", "placement_group_id", "events", "profiling_data",
			"creation_time_ms", "start_time_ms", "end_time_ms", "task_log_info", "error_message", "is_debugger_paused"},
		"task_id", "attempt_number", "name", "state", "job_id", "actor_id", "type", "func_or_class_name", "parent_task_id",
		"node_id", "worker_id", "worker_pid", "error_type", "language", "placement_group_id", "is_debugger_paused")
	actorSchema = newSchema(
		[]string{"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace"},
		[]string{"serialized_runtime_env", "required_resources", "death_cause", "is_detached", "placement_group_id",
			"repr_name", "num_restarts", "num_restarts_due_to_lineage_reconstruction", "is_lightweight"},
		"actor_id", "class_name", "state", "job_id", "name", "node_id", "pid", "ray_namespace", "placement_group_id", "repr_name",
		"is_lightweight")
	nodeSchema = newSchema(
		[]string{"node_id", "node_ip", "is_head_node", "state", "state_message", "node_name", "resources_total", "labels"},
		[]string{"start_time_ms", "end_time_ms"},
		"node_id", "node_ip", "is_head_node", "state", "node_name")
	pgSchema = newSchema(
		[]string{"placement_group_id", "name", "creator_job_id", "state"},
		[]string{"bundles", "is_detached", "stats"},
		"placement_group_id", "name", "creator_job_id", "state", "is_detached")
	jobSchema = newSchema(
		[]string{"job_id", "submission_id", "entrypoint", "type", "status", "message", "error_type", "driver_info"},
		[]string{"start_time", "end_time", "metadata", "runtime_env", "driver_agent_http_address", "driver_node_id", "driver_exit_code"},
		"job_id", "type", "status", "submission_id")
)

func (s *Server) listTasks(ctx context.Context, o ListOptions) (ListResult, error) {
	req := &rpcpb.ListTasksRequest{Limit: int32(o.Limit)}
	for _, f := range o.Filters {
		req.Filters = append(req.Filters, &rpcpb.TaskFilter{Key: f.Key, Predicate: f.Predicate, Value: f.Value})
	}
	l, err := s.gcs.ListTasks(ctx, req)
	if err != nil {
		return ListResult{}, err
	}
	res := ListResult{Total: int(l.Total), NumFiltered: int(l.NumFiltered)}
	for _, t := range l.Tasks {
		res.Rows = append(res.Rows, taskSchema.project(TaskRow(t), o.Detail))
	}
	if l.Dropped > 0 {
		res.Warnings = append(res.Warnings, droppedWarning(l.Dropped))
	}
	return res, nil
}

func droppedWarning(n int64) string {
	return fmt.Sprintf("The task history is missing %d task events or attempts: a process's buffer was full "+
		"(RAY_task_events_max_num_status_events_buffer_on_worker) or the GCS evicted the oldest attempts "+
		"(RAY_task_events_max_num_task_in_gcs).", n)
}

// TaskRow is a task attempt in Ray's TaskState fields.
func TaskRow(t *rpcpb.TaskState) Row {
	info := t.Info
	if info == nil {
		info = &rpcpb.TaskInfo{}
	}
	ms := func(st rpcpb.TaskEvent_Status) any {
		if ns := t.StatusTimesNs[int32(st)]; ns > 0 {
			return ns / 1e6
		}
		return nil
	}
	var created any
	var events []Row
	for st := rpcpb.TaskEvent_PENDING_ARGS_AVAIL; st <= rpcpb.TaskEvent_FAILED; st++ {
		if v := ms(st); v != nil {
			if created == nil {
				created = v
			}
			events = append(events, Row{"state": st.String(), "created_ms": v})
		}
	}
	sort.SliceStable(events, func(i, j int) bool { return events[i]["created_ms"].(int64) < events[j]["created_ms"].(int64) })
	end := ms(rpcpb.TaskEvent_FINISHED)
	if v := ms(rpcpb.TaskEvent_FAILED); v != nil {
		end = v
	}
	r := Row{
		"task_id": t.TaskId, "attempt_number": int(t.Attempt), "name": info.Name, "state": t.State.String(),
		"job_id": t.JobId, "actor_id": nilIfEmpty(info.ActorId), "type": info.Type.String(), "func_or_class_name": info.Name,
		"parent_task_id": info.ParentTaskId, "node_id": nilIfEmpty(t.NodeId), "worker_id": nilIfEmpty(t.WorkerId),
		"worker_pid": nilIfZero(t.WorkerPid), "error_type": nilIfEmpty(t.ErrorType),
		"language": "GO", "required_resources": info.RequiredResources, "runtime_env_info": nil,
		"placement_group_id": nilIfEmpty(info.PlacementGroupId), "events": events, "profiling_data": nil,
		"creation_time_ms": created, "start_time_ms": ms(rpcpb.TaskEvent_RUNNING), "end_time_ms": end,
		"task_log_info": nil, "error_message": nilIfEmpty(t.ErrorMessage), "is_debugger_paused": false,
	}
	if r["required_resources"] == nil || len(info.RequiredResources) == 0 {
		r["required_resources"] = map[string]float64{}
	}
	return r
}

func (s *Server) actorRows(ctx context.Context) ([]Row, error) {
	l, err := s.gcs.ListActors(ctx, &rpcpb.Empty{})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(l.Actors))
	for _, a := range l.Actors {
		rows = append(rows, ActorRow(a))
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i]["actor_id"].(string) < rows[j]["actor_id"].(string) })
	return rows, nil
}

// ActorRow is an actor in Ray's ActorState fields.
func ActorRow(a *rpcpb.ActorInfo) Row {
	var death any
	if a.State == rpcpb.ActorState_DEAD && a.DeathCause != "" {
		death = Row{"actor_died_error_context": Row{"error_message": a.DeathCause, "actor_id": a.ActorId,
			"class_name": a.ClassName, "name": a.Name, "ray_namespace": a.Namespace, "node_id": a.NodeId}}
	}
	res := a.RequiredResources
	if res == nil {
		res = map[string]float64{}
	}
	return Row{
		"actor_id": a.ActorId, "class_name": a.ClassName, "state": a.State.String(), "job_id": a.JobId,
		"name": a.Name, "node_id": nilIfEmpty(a.NodeId), "pid": nilIfZero(a.Pid), "ray_namespace": a.Namespace,
		"serialized_runtime_env": "{}", "required_resources": res, "death_cause": death, "is_detached": a.IsDetached,
		"placement_group_id": nilIfEmpty(a.PlacementGroupId), "repr_name": "", "num_restarts": int(a.NumRestarts),
		"num_restarts_due_to_lineage_reconstruction": 0,
		// goray's: an instance in a shared host worker (pid is the host's).
		"is_lightweight": a.Lightweight,
	}
}

func (s *Server) nodeRows(ctx context.Context) ([]Row, error) {
	v, err := s.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(v.Nodes))
	for _, n := range v.Nodes {
		rows = append(rows, NodeRow(n))
	}
	return rows, nil
}

// NodeRow is a node in Ray's NodeState fields.
func NodeRow(n *rpcpb.NodeView) Row {
	state, msg := "ALIVE", any(nil)
	if !n.Alive {
		state = "DEAD"
		msg = nilIfEmpty(n.DeathReason)
	}
	labels := map[string]string{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	total := n.Total
	if total == nil {
		total = map[string]float64{}
	}
	name := n.InstanceId
	if name == "" {
		name = n.Ip
	}
	return Row{"node_id": n.NodeId, "node_ip": n.Ip, "is_head_node": n.IsHead, "state": state, "state_message": msg,
		"node_name": name, "resources_total": total, "labels": labels, "start_time_ms": nil, "end_time_ms": nil}
}

func (s *Server) pgRows(ctx context.Context) ([]Row, error) {
	l, err := s.gcs.ListPlacementGroups(ctx, &rpcpb.Empty{})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(l.PlacementGroups))
	for _, pg := range l.PlacementGroups {
		rows = append(rows, PlacementGroupRow(pg))
	}
	return rows, nil
}

// PlacementGroupRow is a placement group in Ray's PlacementGroupState fields.
func PlacementGroupRow(pg *rpcpb.PlacementGroupInfo) Row {
	spec := pg.Spec
	if spec == nil {
		spec = &rpcpb.PlacementGroupSpec{}
	}
	bundles := make([]Row, 0, len(spec.Bundles))
	for i, b := range spec.Bundles {
		var node any
		if i < len(pg.BundleNodes) && pg.BundleNodes[i] != "" {
			node = pg.BundleNodes[i]
		}
		bundles = append(bundles, Row{"bundle_id": pg.PlacementGroupId + ":" + strconv.Itoa(i), "node_id": node, "unit_resources": b.Resources})
	}
	st := pg.State
	if st == "INFEASIBLE" {
		st = "PENDING" // Ray's states: infeasible groups wait as PENDING
	}
	return Row{"placement_group_id": pg.PlacementGroupId, "name": spec.Name, "creator_job_id": spec.JobId, "state": st,
		"bundles": bundles, "is_detached": spec.Detached, "stats": Row{"scheduling_state": pg.State}}
}

func (s *Server) jobRows(ctx context.Context) ([]Row, error) {
	var subs []api.JobDetails
	if s.State.Jobs != nil {
		var err error
		if subs, err = s.State.Jobs(ctx); err != nil {
			return nil, err
		}
	}
	drivers, err := s.gcs.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		return nil, err
	}
	rows := make([]Row, 0, len(subs)+len(drivers.Jobs))
	claimed := map[string]bool{}
	for i := range subs {
		d := &subs[i]
		if d.JobID != nil {
			claimed[*d.JobID] = true
		}
		rows = append(rows, JobRow(d))
	}
	// Drivers not started by a submission (a program run by hand).
	for _, j := range drivers.Jobs {
		if claimed[j.JobId] {
			continue
		}
		st := api.StatusRunning
		if j.Finished {
			st = api.StatusSucceeded
		}
		id := j.JobId
		d := &api.JobDetails{Type: "DRIVER", JobID: &id, Status: st, StartTime: ptrIf(j.StartTimeMs), EndTime: ptrIf(j.EndTimeMs),
			DriverInfo: &api.DriverInfo{ID: j.JobId}}
		rows = append(rows, JobRow(d))
	}
	return rows, nil
}

// JobRow is a job in Ray's JobState (JobDetails) fields.
func JobRow(d *api.JobDetails) Row {
	return Row{"job_id": deref(d.JobID), "submission_id": deref(d.SubmissionID), "entrypoint": d.Entrypoint, "type": d.Type,
		"status": string(d.Status), "message": deref(d.Message), "error_type": deref(d.ErrorType), "driver_info": d.DriverInfo,
		"start_time": derefInt(d.StartTime), "end_time": derefInt(d.EndTime), "metadata": d.Metadata, "runtime_env": d.RuntimeEnv,
		"driver_agent_http_address": deref(d.DriverAgentHTTPAddress), "driver_node_id": deref(d.DriverNodeID),
		"driver_exit_code": d.DriverExitCode}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nilIfZero(n int32) any {
	if n == 0 {
		return nil
	}
	return int(n)
}

func deref(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func derefInt(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

func ptrIf(n int64) *int64 {
	if n == 0 {
		return nil
	}
	return &n
}

// Columns are a resource's columns in Ray's order (the detail ones too
// with detail), for tables; nil for an unknown resource.
func Columns(resource string, detail bool) []string {
	s, ok := map[string]schema{"tasks": taskSchema, "actors": actorSchema, "nodes": nodeSchema,
		"placement_groups": pgSchema, "jobs": jobSchema, "cluster_events": clusterEventSchema, "workers": workerSchema,
		"objects": objectSchema}[resource]
	if !ok {
		return nil
	}
	cols := append([]string(nil), s.base...)
	if detail {
		cols = append(cols, s.detail...)
	}
	return cols
}
