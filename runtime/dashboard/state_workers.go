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

func (s *Server) listWorkers(ctx context.Context, o ListOptions) (ListResult, error) {
	if s.nodeClient == nil {
		return ListResult{}, fmt.Errorf("this dashboard cannot reach the nodes")
	}
	view, err := s.gcs.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	if err != nil {
		return ListResult{}, err
	}
	type answer struct {
		node *rpcpb.NodeView
		st   *rpcpb.NodeStats
		err  error
	}
	var wg sync.WaitGroup
	answers := make([]answer, 0, len(view.Nodes))
	for _, n := range view.Nodes {
		if n.Alive {
			answers = append(answers, answer{node: n})
		}
	}
	for i := range answers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.nodeClient(answers[i].node.Address)
			if err == nil {
				answers[i].st, err = c.GetNodeStats(ctx, &rpcpb.Empty{})
			}
			answers[i].err = err
		}()
	}
	wg.Wait()
	var rows []Row
	var warnings []string
	for _, a := range answers {
		if a.err != nil {
			warnings = append(warnings, fmt.Sprintf("node %s (%s) did not answer: %v", a.node.NodeId, a.node.Ip, a.err))
			continue
		}
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
