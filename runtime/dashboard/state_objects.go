package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Ray's ObjectState: every object some process owns, asked of the owners —
// the workers every alive node reports and the drivers of running jobs —
// in parallel. An owner that does not answer is a warning.
var objectSchema = newSchema(
	[]string{"object_id", "object_size", "task_status", "reference_type", "call_site", "type", "pid", "ip"},
	nil,
	"object_id", "object_size", "task_status", "reference_type", "call_site", "type", "pid", "ip")

// callSiteDisabled is what Ray shows without RAY_record_ref_creation_sites;
// goray records no creation sites.
const callSiteDisabled = "disabled"

// owners are the addresses of the processes that may own objects: the
// drivers of running jobs and the live workers of every node.
func (s *Server) owners(ctx context.Context) ([]string, []string, error) {
	jobs, err := s.gcs.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		return nil, nil, err
	}
	nodes, warnings, err := s.askNodes(ctx)
	if err != nil {
		return nil, nil, err
	}
	var addrs []string
	seen := map[string]bool{}
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			addrs = append(addrs, a)
		}
	}
	for _, j := range jobs.Jobs {
		if !j.Finished {
			add(j.DriverAddress)
		}
	}
	for _, n := range nodes {
		for _, w := range n.st.Workers {
			if w.Alive {
				add(w.Address)
			}
		}
	}
	return addrs, warnings, nil
}

func (s *Server) objectRows(ctx context.Context) ([]Row, []string, error) {
	if s.workerClient == nil {
		return nil, nil, fmt.Errorf("this dashboard cannot reach the workers")
	}
	addrs, warnings, err := s.owners(ctx)
	if err != nil {
		return nil, nil, err
	}
	answers := make([]*rpcpb.OwnedObjects, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, done, err := s.workerClient(a)
			if err == nil {
				defer done()
				answers[i], err = c.ListObjects(ctx, &rpcpb.ListObjectsRequest{Limit: stateLimitMax})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	var rows []Row
	for i, a := range answers {
		if errs[i] != nil {
			// A worker that exited since the node listed it owns nothing any more.
			warnings = append(warnings, fmt.Sprintf("owner %s did not answer: %v", addrs[i], errs[i]))
			continue
		}
		if int64(len(a.Objects)) < a.Total {
			warnings = append(warnings, fmt.Sprintf("owner %s (pid %d) owns %d objects; %d listed", addrs[i], a.Pid, a.Total, len(a.Objects)))
		}
		for _, o := range a.Objects {
			rows = append(rows, ObjectRow(a, o))
		}
	}
	return rows, warnings, nil
}

// ObjectRow is an owned object in Ray's ObjectState fields.
func ObjectRow(owner *rpcpb.OwnedObjects, o *rpcpb.OwnedObject) Row {
	typ := "WORKER"
	if owner.Driver {
		typ = "DRIVER"
	}
	return Row{"object_id": o.ObjectId, "object_size": o.Size, "task_status": o.TaskStatus, "reference_type": o.ReferenceType,
		"call_site": callSiteDisabled, "type": typ, "pid": int(owner.Pid), "ip": owner.Ip}
}

func (s *Server) listObjects(ctx context.Context, o ListOptions) (ListResult, error) {
	rows, warnings, err := s.objectRows(ctx)
	if err != nil {
		return ListResult{}, err
	}
	res := filterRows(objectSchema, rows, o)
	res.Warnings = warnings
	return res, nil
}

func (s *Server) summarizeObjects(w http.ResponseWriter, r *http.Request) {
	o, err := ParseListOptions(r.URL.Query())
	if err == nil {
		err = objectSchema.check(o.Filters)
	}
	if err != nil {
		stateError(w, badQuery{err})
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), stateTimeout(r))
	defer cancel()
	rows, warnings, err := s.objectRows(ctx)
	if err != nil {
		stateError(w, err)
		return
	}
	o.Limit = len(rows) + 1
	res := filterRows(objectSchema, rows, o)
	res.Warnings = warnings
	writeSummary(w, res, SummarizeObjects(res.Rows))
}

// SummarizeObjects groups objects by call site, as Ray's ObjectSummaries
// (every object has the call site "disabled": one group).
func SummarizeObjects(rows []Row) Row {
	type group struct {
		objects        int
		bytes          int64
		workers, nodes map[string]bool
		tasks, refs    map[string]int
	}
	groups := map[string]*group{}
	var total int
	var bytes int64
	for _, r := range rows {
		site, _ := r["call_site"].(string)
		g, ok := groups[site]
		if !ok {
			g = &group{workers: map[string]bool{}, nodes: map[string]bool{}, tasks: map[string]int{}, refs: map[string]int{}}
			groups[site] = g
		}
		size, _ := r["object_size"].(int64)
		g.objects++
		total++
		if size > 0 {
			g.bytes += size
			bytes += size
		}
		g.workers[fmt.Sprint(r["ip"], "/", r["pid"])] = true
		g.nodes[fmt.Sprint(r["ip"])] = true
		g.tasks[fmt.Sprint(r["task_status"])]++
		g.refs[fmt.Sprint(r["reference_type"])]++
	}
	summary := Row{}
	for site, g := range groups {
		summary[site] = Row{"total_objects": g.objects, "total_size_mb": float64(g.bytes) / (1 << 20),
			"total_num_workers": len(g.workers), "total_num_nodes": len(g.nodes), "task_state_counts": g.tasks, "ref_type_counts": g.refs}
	}
	return Row{"summary": summary, "total_objects": total, "total_size_mb": float64(bytes) / (1 << 20), "callsite_enabled": false,
		"summary_by": "callsite"}
}
