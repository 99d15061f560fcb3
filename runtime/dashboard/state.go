package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// Ray's state API (/api/v0/...): the same paths, query parameters and JSON
// shapes as Ray's dashboard, so `ray list`-style clients and the page read
// it. A list answers
//
//	{"result": true, "msg": "", "data": {"result": {"total": N,
//	  "num_after_truncation": N, "num_filtered": M, "result": [rows],
//	  "partial_failure_warning": "", "warnings": null}}}
//
// with rows in Ray's field names (the detail columns only with detail=true).

// Row is one entry of a state API list, keyed by Ray's field names.
type Row = map[string]any

// ListOptions are a list request's query parameters, as Ray names them.
type ListOptions struct {
	Limit   int
	Detail  bool
	Filters []Filter
	// ExcludeDriver leaves DRIVER_TASK entries out of task lists (Ray's default).
	ExcludeDriver bool
}

// Filter is one filter_keys / filter_predicates / filter_values triple.
type Filter struct{ Key, Predicate, Value string }

// stateLimitMax is Ray's RAY_MAX_LIMIT_FROM_API_SERVER.
const stateLimitMax = 10_000

// ParseListOptions reads Ray's list query parameters.
func ParseListOptions(q map[string][]string) (ListOptions, error) {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	o := ListOptions{Limit: 100, ExcludeDriver: true}
	if v := get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return o, fmt.Errorf("limit must be a positive integer, not %q", v)
		}
		if n > stateLimitMax {
			return o, fmt.Errorf("limit %d is above the maximum %d", n, stateLimitMax)
		}
		o.Limit = n
	}
	o.Detail = parseBool(get("detail"))
	if v := get("exclude_driver"); v != "" {
		o.ExcludeDriver = parseBool(v)
	}
	keys, preds, vals := q["filter_keys"], q["filter_predicates"], q["filter_values"]
	if len(keys) != len(preds) || len(keys) != len(vals) {
		return o, fmt.Errorf("filter_keys, filter_predicates and filter_values must come in the same number (%d, %d, %d)", len(keys), len(preds), len(vals))
	}
	for i := range keys {
		if preds[i] != "=" && preds[i] != "!=" {
			return o, fmt.Errorf("unsupported filter predicate %q is given; available predicates: =, !=", preds[i])
		}
		o.Filters = append(o.Filters, Filter{keys[i], preds[i], vals[i]})
	}
	return o, nil
}

func parseBool(v string) bool {
	b, err := strconv.ParseBool(strings.ToLower(v))
	return err == nil && b
}

// schema is a resource's columns in Ray's order: base ones, then those only
// shown with detail=true, and which of them filters may name.
type schema struct {
	base, detail []string
	filterable   map[string]bool
}

func newSchema(base, detail []string, filterable ...string) schema {
	s := schema{base: base, detail: detail, filterable: map[string]bool{}}
	for _, f := range filterable {
		s.filterable[f] = true
	}
	return s
}

func (s schema) check(filters []Filter) error {
	for _, f := range filters {
		if !s.filterable[f.Key] {
			cols := make([]string, 0, len(s.filterable))
			for c := range s.filterable {
				cols = append(cols, c)
			}
			sort.Strings(cols)
			return fmt.Errorf("given filter column %q is not supported; supported filter columns: %s", f.Key, strings.Join(cols, ", "))
		}
	}
	return nil
}

// project keeps a row's columns for the answer (missing ones as null, as Ray).
func (s schema) project(r Row, detail bool) Row {
	out := make(Row, len(s.base)+len(s.detail))
	for _, c := range s.base {
		out[c] = r[c]
	}
	if detail {
		for _, c := range s.detail {
			out[c] = r[c]
		}
	}
	return out
}

// cell is a value as filters compare it: Ray compares strings without case.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return strings.ToLower(x)
	case bool:
		return strconv.FormatBool(x)
	default:
		return strings.ToLower(fmt.Sprint(x))
	}
}

func matchRow(r Row, filters []Filter) bool {
	for _, f := range filters {
		if (cell(r[f.Key]) == strings.ToLower(f.Value)) != (f.Predicate == "=") {
			return false
		}
	}
	return true
}

// ListResult is a list answer before it is written.
type ListResult struct {
	Total       int
	NumFiltered int
	Rows        []Row
	Warnings    []string
}

// filterRows applies filters and the limit to rows in memory.
func filterRows(s schema, rows []Row, o ListOptions) ListResult {
	res := ListResult{Total: len(rows)}
	for _, r := range rows {
		if !matchRow(r, o.Filters) {
			continue
		}
		res.NumFiltered++
		if len(res.Rows) < o.Limit {
			res.Rows = append(res.Rows, s.project(r, o.Detail))
		}
	}
	return res
}

// rayResponse writes Ray's dashboard envelope.
func rayResponse(w http.ResponseWriter, code int, ok bool, msg string, data any) {
	if data == nil {
		data = map[string]any{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"result": ok, "msg": msg, "data": data})
}

func writeList(w http.ResponseWriter, res ListResult) {
	rows := res.Rows
	if rows == nil {
		rows = []Row{}
	}
	var warnings any
	if len(res.Warnings) > 0 {
		warnings = res.Warnings
	}
	rayResponse(w, http.StatusOK, true, "", map[string]any{"result": map[string]any{
		"total": res.Total, "num_after_truncation": res.Total, "num_filtered": res.NumFiltered,
		"result": rows, "partial_failure_warning": "", "warnings": warnings}})
}

// stateError answers a bad query with 400 and a GCS that does not answer
// with 503, in Ray's envelope.
func stateError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch status.Code(err) {
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.Unavailable, codes.DeadlineExceeded:
		code = http.StatusServiceUnavailable
	case codes.Unknown:
		if _, ok := err.(badQuery); ok { //nolint:errorlint // our own type, never wrapped
			code = http.StatusBadRequest
		}
	}
	msg := err.Error()
	if st, ok := status.FromError(err); ok && status.Code(err) != codes.Unknown {
		msg = st.Message()
	}
	rayResponse(w, code, false, msg, nil)
}

type badQuery struct{ error }

// StateSource is where the state API reads what the GCS does not hold: the
// job manager's submissions (nil on a dashboard without one).
type StateSource struct {
	Jobs func(ctx context.Context) ([]api.JobDetails, error)
}

// mountState adds the /api/v0 endpoints.
func (s *Server) mountState() {
	list := func(path string, sch schema, rows func(ctx context.Context, o ListOptions) (ListResult, error)) {
		s.Mux.HandleFunc("GET /api/v0/"+path, func(w http.ResponseWriter, r *http.Request) {
			o, err := ParseListOptions(r.URL.Query())
			if err == nil {
				err = sch.check(o.Filters)
			}
			if err != nil {
				stateError(w, badQuery{err})
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), stateTimeout(r))
			defer cancel()
			res, err := rows(ctx, o)
			if err != nil {
				stateError(w, err)
				return
			}
			writeList(w, res)
		})
	}
	list("tasks", taskSchema, s.listTasks)
	list("actors", actorSchema, s.inMemory(actorSchema, s.actorRows))
	list("nodes", nodeSchema, s.inMemory(nodeSchema, s.nodeRows))
	list("placement_groups", pgSchema, s.inMemory(pgSchema, s.pgRows))
	list("jobs", jobSchema, s.inMemory(jobSchema, s.jobRows))
	list("workers", workerSchema, s.listWorkers)
	list("objects", objectSchema, s.listObjects)
	s.Mux.HandleFunc("GET /api/v0/objects/summarize", s.summarizeObjects)
	s.Mux.HandleFunc("GET /api/v0/tasks/summarize", s.summarizeTasks)
	s.Mux.HandleFunc("GET /api/v0/actors/summarize", s.summarizeActors)
	s.mountEvents() // events.go
}

// stateTimeout is the request's timeout parameter (seconds, Ray's default 30).
func stateTimeout(r *http.Request) time.Duration {
	if n, err := strconv.Atoi(r.URL.Query().Get("timeout")); err == nil && n > 0 && n <= 300 {
		return time.Duration(n) * time.Second
	}
	return 30 * time.Second
}

func (s *Server) inMemory(sch schema, rows func(ctx context.Context) ([]Row, error)) func(ctx context.Context, o ListOptions) (ListResult, error) {
	return func(ctx context.Context, o ListOptions) (ListResult, error) {
		all, err := rows(ctx)
		if err != nil {
			return ListResult{}, err
		}
		return filterRows(sch, all, o), nil
	}
}
