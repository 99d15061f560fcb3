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
var taskColumns = map[string]func(h *History, s int32) string{
	"task_id":            func(h *History, s int32) string { return h.taskID(s) },
	"attempt_number":     func(h *History, s int32) string { return strconv.Itoa(int(h.at(s).attempt)) },
	"name":               func(h *History, s int32) string { return h.infoOf(h.at(s)).GetName() },
	"func_or_class_name": func(h *History, s int32) string { return h.infoOf(h.at(s)).GetName() },
	"state":              func(h *History, s int32) string { return h.at(s).state().String() },
	"job_id":             func(h *History, s int32) string { return h.str(h.at(s).job) },
	"actor_id":           func(h *History, s int32) string { return h.infoOf(h.at(s)).GetActorId() },
	"type":               func(h *History, s int32) string { return h.infoOf(h.at(s)).GetType().String() },
	"parent_task_id":     func(h *History, s int32) string { return h.infoOf(h.at(s)).GetParentTaskId() },
	"node_id":            func(h *History, s int32) string { return h.str(h.at(s).node) },
	"worker_id":          func(h *History, s int32) string { return h.str(h.at(s).worker) },
	"worker_pid":         func(h *History, s int32) string { return strconv.Itoa(int(h.at(s).pid)) },
	"error_type":         func(h *History, s int32) string { return h.errs[s].typ },
	"language":           func(h *History, s int32) string { return "GO" },
	"placement_group_id": func(h *History, s int32) string { return h.infoOf(h.at(s)).GetPlacementGroupId() },
	"is_debugger_paused": func(h *History, s int32) string { return "false" },
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
	get    func(*History, int32) string
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

func (h *History) matches(s int32, preds []predicate) bool {
	for _, p := range preds {
		if (strings.ToLower(p.get(h, s)) == p.value) != p.equal {
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
	out := &rpcpb.TaskList{Total: int64(h.n), Dropped: h.Dropped("")}
	for s := h.all.tail; s != 0; s = h.at(s).allPrev {
		if !h.matches(s, preds) {
			continue
		}
		out.NumFiltered++
		if len(out.Tasks) < limit {
			out.Tasks = append(out.Tasks, h.toProto(s))
		}
	}
	return out, nil
}

func (h *History) toProto(s int32) *rpcpb.TaskState {
	a := h.at(s)
	e := h.errs[s]
	st := &rpcpb.TaskState{TaskId: h.taskID(s), Attempt: a.attempt, JobId: h.str(a.job), State: a.state(), Info: h.infoOf(a),
		NodeId: h.str(a.node), WorkerId: h.str(a.worker), WorkerPid: a.pid, ErrorType: e.typ, ErrorMessage: e.msg,
		StatusTimesNs: map[int32]int64{}}
	for s, t := range a.times {
		if t != 0 {
			st.StatusTimesNs[int32(s)] = t
		}
	}
	return st
}
