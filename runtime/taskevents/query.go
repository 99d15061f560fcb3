package taskevents

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// MaxLimit caps one answer (Ray's RAY_MAX_LIMIT_FROM_API_SERVER).
const MaxLimit = 10_000

// DefaultLimit is the answer's size when the request names none (Ray's DEFAULT_LIMIT).
const DefaultLimit = 100

// taskColumns are the filterable columns of Ray's TaskState, each read from
// an attempt as a string.
var taskColumns = map[string]func(a *attempt) string{
	"task_id":            func(a *attempt) string { return a.key.task },
	"attempt_number":     func(a *attempt) string { return strconv.Itoa(int(a.key.attempt)) },
	"name":               func(a *attempt) string { return a.info.GetName() },
	"func_or_class_name": func(a *attempt) string { return a.info.GetName() },
	"state":              func(a *attempt) string { return a.state().String() },
	"job_id":             func(a *attempt) string { return a.jobID },
	"actor_id":           func(a *attempt) string { return a.info.GetActorId() },
	"type":               func(a *attempt) string { return a.info.GetType().String() },
	"parent_task_id":     func(a *attempt) string { return a.info.GetParentTaskId() },
	"node_id":            func(a *attempt) string { return a.nodeID },
	"worker_id":          func(a *attempt) string { return a.workerID },
	"worker_pid":         func(a *attempt) string { return strconv.Itoa(int(a.pid)) },
	"error_type":         func(a *attempt) string { return a.errType },
	"language":           func(a *attempt) string { return "GO" },
	"placement_group_id": func(a *attempt) string { return a.info.GetPlacementGroupId() },
	"is_debugger_paused": func(a *attempt) string { return "false" },
}

// FilterColumns lists the columns a task filter may name, sorted.
func FilterColumns() []string {
	cols := make([]string, 0, len(taskColumns))
	for c := range taskColumns {
		cols = append(cols, c)
	}
	sort.Strings(cols)
	return cols
}

type predicate struct {
	get    func(*attempt) string
	equal  bool
	value  string
	column string
}

// compileFilters checks filters as Ray's state API does: a known column,
// "=" or "!=". Values compare case-insensitively, as Ray's strings do.
func compileFilters(filters []*rpcpb.TaskFilter) ([]predicate, error) {
	out := make([]predicate, 0, len(filters))
	for _, f := range filters {
		get, ok := taskColumns[f.Key]
		if !ok {
			return nil, fmt.Errorf("given filter column %q is not supported; supported filter columns: %s",
				f.Key, strings.Join(FilterColumns(), ", "))
		}
		if f.Predicate != "=" && f.Predicate != "!=" {
			return nil, fmt.Errorf("unsupported filter predicate %q is given; available predicates: =, !=", f.Predicate)
		}
		out = append(out, predicate{get: get, equal: f.Predicate == "=", value: strings.ToLower(f.Value), column: f.Key})
	}
	return out, nil
}

func matches(a *attempt, preds []predicate) bool {
	for _, p := range preds {
		if (strings.ToLower(p.get(a)) == p.value) != p.equal {
			return false
		}
	}
	return true
}

// List answers a state API query: the newest attempts first, at most limit
// of them (DefaultLimit when 0, never above MaxLimit), with the count of
// all attempts and of those matching.
func (h *History) List(req *rpcpb.ListTasksRequest) (*rpcpb.TaskList, error) {
	preds, err := compileFilters(req.GetFilters())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetLimit())
	if limit <= 0 {
		limit = DefaultLimit
	}
	limit = min(limit, MaxLimit)
	out := &rpcpb.TaskList{Total: int64(len(h.attempts)), Dropped: h.Dropped("")}
	for a := h.all.tail; a != nil; a = a.all.prev {
		if !matches(a, preds) {
			continue
		}
		out.NumFiltered++
		if len(out.Tasks) < limit {
			out.Tasks = append(out.Tasks, a.toProto())
		}
	}
	return out, nil
}

func (a *attempt) toProto() *rpcpb.TaskState {
	st := &rpcpb.TaskState{TaskId: a.key.task, Attempt: a.key.attempt, JobId: a.jobID, State: a.state(), Info: a.info,
		NodeId: a.nodeID, WorkerId: a.workerID, WorkerPid: a.pid, ErrorType: a.errType, ErrorMessage: a.errMsg,
		StatusTimesNs: map[int32]int64{}}
	for s, t := range a.times {
		if t != 0 {
			st.StatusTimesNs[int32(s)] = t
		}
	}
	return st
}
