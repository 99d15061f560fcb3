package dashboard

import (
	"context"
	"fmt"
	"sort"
	"sync"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Ray's WorkerState: the worker processes every alive node reports (live,
// and the last ones that exited with why), asked of the node managers.
var workerSchema = newSchema(
	[]string{"worker_id", "is_alive", "worker_type", "exit_type", "node_id", "ip", "pid"},
	[]string{"exit_detail", "worker_launch_time_ms", "worker_launched_time_ms", "start_time_ms", "end_time_ms",
		"debugger_port", "num_paused_threads"},
	"worker_id", "is_alive", "worker_type", "exit_type", "node_id", "ip", "pid", "debugger_port", "num_paused_threads")

// UseNodeCredentials lets the state API call the nodes' managers and the
// workers (for /api/v0/workers and /api/v0/objects) with these
// credentials: the head's own.
func (s *Server) UseNodeCredentials(sec auth.Config) {
	pool := rpcutil.NewPool(sec)
	s.nodeClient = func(addr string) (rpcpb.NodeManagerClient, error) {
		c, err := pool.Get(addr)
		if err != nil {
			return nil, err
		}
		return rpcpb.NewNodeManagerClient(c), nil
	}
	// Workers come and go: a connection per call, not one kept per worker
	// that ever answered.
	s.workerClient = func(addr string) (rpcpb.CoreWorkerClient, func(), error) {
		c, err := rpcutil.Dial(addr, sec)
		if err != nil {
			return nil, nil, err
		}
		return rpcpb.NewCoreWorkerClient(c), func() { _ = c.Close() }, nil
	}
}

// nodeStats is what one alive node's manager said of itself.
type nodeStats struct {
	node *rpcpb.NodeView
	st   *rpcpb.NodeStats
}

// askNodes asks every alive node's manager for its stats, in parallel; a
// node that does not answer is a warning, not a failure.
func (s *Server) askNodes(ctx context.Context) ([]nodeStats, []string, error) {
	if s.nodeClient == nil {
		return nil, nil, fmt.Errorf("this dashboard cannot reach the nodes")
	}
	view, err := s.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return nil, nil, err
	}
	var alive []*rpcpb.NodeView
	for _, n := range view.Nodes {
		if n.Alive {
			alive = append(alive, n)
		}
	}
	stats := make([]*rpcpb.NodeStats, len(alive))
	errs := make([]error, len(alive))
	var wg sync.WaitGroup
	for i, n := range alive {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.nodeClient(n.Address)
			if err == nil {
				stats[i], err = c.GetNodeStats(ctx, &rpcpb.Empty{})
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	var out []nodeStats
	var warnings []string
	for i, n := range alive {
		if errs[i] != nil {
			warnings = append(warnings, fmt.Sprintf("node %s (%s) did not answer: %v", n.NodeId, n.Ip, errs[i]))
			continue
		}
		out = append(out, nodeStats{node: n, st: stats[i]})
	}
	return out, warnings, nil
}

func (s *Server) listWorkers(ctx context.Context, o ListOptions) (ListResult, error) {
	nodes, warnings, err := s.askNodes(ctx)
	if err != nil {
		return ListResult{}, err
	}
	var rows []Row
	for _, a := range nodes {
		for _, w := range a.st.Workers {
			rows = append(rows, WorkerRow(a.node, w))
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i]["is_alive"].(bool) && !rows[j]["is_alive"].(bool) })
	res := filterRows(workerSchema, rows, o)
	res.Warnings = warnings
	return res, nil
}

// WorkerRow is a worker process in Ray's WorkerState fields.
func WorkerRow(n *rpcpb.NodeView, w *rpcpb.WorkerState) Row {
	var end any
	if w.EndTimeMs > 0 {
		end = w.EndTimeMs
	}
	return Row{"worker_id": w.WorkerId, "is_alive": w.Alive, "worker_type": "WORKER", "exit_type": nilIfEmpty(w.ExitType),
		"node_id": n.NodeId, "ip": n.Ip, "pid": int(w.Pid), "exit_detail": nilIfEmpty(w.ExitDetail),
		"worker_launch_time_ms": w.StartTimeMs, "worker_launched_time_ms": w.StartTimeMs, "start_time_ms": w.StartTimeMs,
		"end_time_ms": end, "debugger_port": nil, "num_paused_threads": nil,
		"job_id": w.JobId, "actor_id": nilIfEmpty(w.ActorId)}
}
