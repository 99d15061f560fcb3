package dashboard

import (
	"context"
	"net/http"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Ray's summaries (/api/v0/{tasks,actors}/summarize): counts by state per
// function or class, for the whole cluster ("node_id_to_summary": {"cluster": ...}).

func (s *Server) summarizeTasks(w http.ResponseWriter, r *http.Request) {
	o, err := ParseListOptions(r.URL.Query())
	if err == nil {
		err = taskSchema.check(o.Filters)
	}
	if err != nil {
		stateError(w, badQuery{err})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stateTimeout(r))
	defer cancel()
	o.Limit = stateLimitMax
	res, err := s.listTasks(ctx, o)
	if err != nil {
		stateError(w, err)
		return
	}
	writeSummary(w, res, SummarizeTasks(res.Rows))
}

// SummarizeTasks counts task attempts by function and state, as Ray's
// TaskSummaries (summary_by func_name).
func SummarizeTasks(rows []Row) Row {
	summary := map[string]Row{}
	var tasks, actorTasks, actorScheduled int
	for _, t := range rows {
		name, _ := t["func_or_class_name"].(string)
		typ, _ := t["type"].(string)
		state, _ := t["state"].(string)
		e, ok := summary[name]
		if !ok {
			e = Row{"func_or_class_name": name, "type": typ, "state_counts": map[string]int{}}
			summary[name] = e
		}
		e["state_counts"].(map[string]int)[state]++
		switch typ {
		case rpcpb.TaskInfo_ACTOR_TASK.String():
			actorTasks++
		case rpcpb.TaskInfo_ACTOR_CREATION_TASK.String():
			actorScheduled++
		default:
			tasks++
		}
	}
	return Row{"summary": summary, "total_tasks": tasks, "total_actor_tasks": actorTasks,
		"total_actor_scheduled": actorScheduled, "summary_by": "func_name"}
}

func (s *Server) summarizeActors(w http.ResponseWriter, r *http.Request) {
	o, err := ParseListOptions(r.URL.Query())
	if err == nil {
		err = actorSchema.check(o.Filters)
	}
	if err != nil {
		stateError(w, badQuery{err})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stateTimeout(r))
	defer cancel()
	all, err := s.actorRows(ctx)
	if err != nil {
		stateError(w, err)
		return
	}
	o.Limit, o.Detail = stateLimitMax, false
	res := filterRows(actorSchema, all, o)
	writeSummary(w, res, SummarizeActors(res.Rows))
}

// SummarizeActors counts actors by class and state (Ray's ActorSummaries).
func SummarizeActors(rows []Row) Row {
	summary := map[string]Row{}
	for _, a := range rows {
		class, _ := a["class_name"].(string)
		state, _ := a["state"].(string)
		e, ok := summary[class]
		if !ok {
			e = Row{"class_name": class, "state_counts": map[string]int{}}
			summary[class] = e
		}
		e["state_counts"].(map[string]int)[state]++
	}
	return Row{"summary": summary, "total_actors": len(rows), "summary_by": "class"}
}

func writeSummary(w http.ResponseWriter, res ListResult, summary Row) {
	var warnings any
	if len(res.Warnings) > 0 {
		warnings = res.Warnings
	}
	rayResponse(w, http.StatusOK, true, "", map[string]any{"result": map[string]any{
		"total": res.Total, "num_after_truncation": res.Total, "num_filtered": res.NumFiltered,
		"result":                  Row{"node_id_to_summary": Row{"cluster": summary}},
		"partial_failure_warning": "", "warnings": warnings}})
}
