package gcs

import (
	"context"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/taskevents"
)

// jobDoneGrace is how long after a job is marked finished its attempts
// without an outcome are failed (Ray's gcs_mark_task_failed_on_job_done_delay_ms
// is 15 s): events of workers still in flight when the driver exited land first.
const jobDoneGrace = 5 * time.Second

// taskHistory is the GCS's task event history (kept in memory only, as in
// Ray: it is for looking, not for recovery). Its own lock: reports arrive
// every second from every process and must not wait on the tables' lock.
type taskHistory struct {
	mu sync.Mutex
	h  *taskevents.History
}

func newTaskHistory() *taskHistory {
	n, _ := strconv.Atoi(os.Getenv("RAY_task_events_max_num_task_in_gcs"))
	return &taskHistory{h: taskevents.NewHistory(n)}
}

// AddTaskEvents merges a process's batch into the history.
func (s *Server) AddTaskEvents(ctx context.Context, in *rpcpb.TaskEventBatch) (*rpcpb.Empty, error) {
	s.tasks.mu.Lock()
	failed := s.tasks.h.Add(in)
	s.tasks.mu.Unlock()
	s.taskFailureEvents(failed)
	return &rpcpb.Empty{}, nil
}

// ListTasks answers the state API's task queries.
func (s *Server) ListTasks(ctx context.Context, in *rpcpb.ListTasksRequest) (*rpcpb.TaskList, error) {
	s.tasks.mu.Lock()
	defer s.tasks.mu.Unlock()
	out, err := s.tasks.h.List(in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return out, nil
}

// tasksOnNodeDied, tasksOnWorkerDied and tasksOnJobFinished end the attempts
// that can no longer report an outcome.
func (s *Server) tasksOnNodeDied(node string) {
	s.tasks.mu.Lock()
	s.tasks.h.NodeDied(node, time.Now().UnixNano())
	s.tasks.mu.Unlock()
}

func (s *Server) tasksOnWorkerDied(worker, cause string) {
	s.tasks.mu.Lock()
	s.tasks.h.WorkerDied(worker, cause, time.Now().UnixNano())
	s.tasks.mu.Unlock()
}

func (s *Server) tasksOnJobFinished(job string) {
	at := time.Now().UnixNano()
	time.AfterFunc(jobDoneGrace, func() {
		s.tasks.mu.Lock()
		s.tasks.h.JobFinished(job, at)
		s.tasks.mu.Unlock()
	})
}
