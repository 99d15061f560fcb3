package gcs

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/actors"
	ev "github.com/goray-dev/goray/runtime/clusterevents"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// eventLog is the GCS's cluster event history (in memory only, as Ray's
// dashboard keeps them: for looking, not for recovery). Its own lock, taken
// after the tables' lock when both are held, never before.
type eventLog struct {
	mu sync.Mutex
	s  *ev.Store
	// lastDecision (with its time) and lastError are the autoscaler's last decision and
	// error recorded: every report repeats them until the next.
	lastDecision, lastError string
}

// newEventLog bounds the history by RAY_cluster_events_max_num (10,000).
// Ids start with the GCS's incarnation: a restarted GCS never reuses one.
func newEventLog(incarnation string) *eventLog {
	n, _ := strconv.Atoi(os.Getenv("RAY_cluster_events_max_num"))
	return &eventLog{s: ev.NewStore(n, time.Now, incarnation[:min(8, len(incarnation))]+"-")}
}

func (l *eventLog) add(severity, source, msg string, fields map[string]string) {
	l.mu.Lock()
	l.s.Add(severity, source, msg, fields)
	l.mu.Unlock()
}

// AddClusterEvents stores events reported by the head's components (the job
// manager). A batch is checked whole first: stored entirely or refused.
func (s *Server) AddClusterEvents(ctx context.Context, in *rpcpb.ClusterEventBatch) (*rpcpb.Empty, error) {
	if len(in.Events) > ev.MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "%d events in one batch; at most %d", len(in.Events), ev.MaxBatch)
	}
	for i, e := range in.Events {
		if err := ev.Check(e); err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "event %d: %v", i, err)
		}
	}
	for _, e := range in.Events {
		s.events.add(e.Severity, e.SourceType, e.Message, e.CustomFields)
	}
	return &rpcpb.Empty{}, nil
}

// ListClusterEvents answers the state API's cluster event queries.
func (s *Server) ListClusterEvents(ctx context.Context, in *rpcpb.ListClusterEventsRequest) (*rpcpb.ClusterEventList, error) {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	out, err := s.events.s.List(in)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	return out, nil
}

// The events the GCS records where it learns of them.

func (s *Server) nodeRegisteredEvent(in *rpcpb.NodeInfo, again bool) {
	what := "registered"
	if again {
		what = "registered again"
	}
	role := "worker node"
	if in.IsHead {
		role = "head node"
	}
	s.events.add(ev.Info, ev.SourceGCS, fmt.Sprintf("%s %s (%s, %s) %s with resources %v", role, in.NodeId, in.Ip, in.Address, what, in.Total),
		map[string]string{"node_id": in.NodeId, "node_ip": in.Ip, "instance_id": in.InstanceId, "node_type": in.NodeTypeName})
}

// nodeDiedEvent: a node that unregistered left on purpose (INFO); any other
// death (no heartbeat, no return after a GCS restart) is an ERROR.
func (s *Server) nodeDiedEvent(id, ip, cause string, intentional bool) {
	sev, what := ev.Error, "died"
	if intentional {
		sev, what = ev.Info, "left the cluster"
	}
	s.events.add(sev, ev.SourceGCS, fmt.Sprintf("node %s (%s) %s: %s", id, ip, what, cause),
		map[string]string{"node_id": id, "node_ip": ip})
}

// workerFailureEvent: a worker that exited on its own is an ERROR; one the
// node killed is worth an event only when it held an actor (ray.Kill, an
// actor's job ending) — idle workers are retired all the time. A non-zero
// exit status is the worker's own doing even when the node marked it
// killed: an owner that lost the connection first returns the worker as
// broken, and the node kills what already exited.
func (s *Server) workerFailureEvent(in *rpcpb.WorkerFailure) {
	fields := map[string]string{"node_id": in.NodeId, "worker_id": in.WorkerId}
	if in.ActorId != "" {
		fields["actor_id"] = in.ActorId
	}
	switch {
	case !in.Intentional || strings.Contains(in.Reason, "exited: exit status"):
		s.events.add(ev.Error, ev.SourceRaylet, fmt.Sprintf("worker %s on node %s died unexpectedly: %s", in.WorkerId, in.NodeId, in.Reason), fields)
	case in.ActorId != "":
		s.events.add(ev.Info, ev.SourceRaylet, fmt.Sprintf("worker %s of actor %s on node %s was killed: %s", in.WorkerId, in.ActorId, in.NodeId, in.Reason), fields)
	}
}

// actorEventsLocked records the actors' transitions the effects announce
// (Changed): death, restarting, alive again after a restart.
func (s *Server) actorEventsLocked(effs []actors.Effect) {
	for _, e := range effs {
		if e.Kind != actors.Changed {
			continue
		}
		a, ok := s.dir.Get(e.ActorID)
		if !ok {
			continue
		}
		name := a.Class
		if a.Name != "" {
			name += " " + strconv.Quote(a.Name)
		}
		fields := map[string]string{"actor_id": a.ID, "job_id": a.JobID, "class_name": a.Class, "state": a.State.String()}
		if a.NodeID != "" {
			fields["node_id"] = a.NodeID
		}
		switch {
		case a.State == actors.Dead:
			s.events.add(ev.Warning, ev.SourceGCS, fmt.Sprintf("actor %s (%s) is dead: %s", a.ID, name, a.DeathCause), fields)
		case a.State == actors.Restarting:
			s.events.add(ev.Warning, ev.SourceGCS, fmt.Sprintf("actor %s (%s) is restarting (restart %d of %s)", a.ID, name, a.NumRestarts, restartsOf(a)), fields)
		case a.State == actors.Alive && a.NumRestarts > 0:
			s.events.add(ev.Info, ev.SourceGCS, fmt.Sprintf("actor %s (%s) restarted (restart %d) on node %s", a.ID, name, a.NumRestarts, a.NodeID), fields)
		}
	}
}

func restartsOf(a *actors.Actor) string {
	if a.MaxRestarts < 0 {
		return "infinite"
	}
	return strconv.Itoa(a.MaxRestarts)
}

// taskFailureEvents records the attempts a batch was the first to bring
// to FAILED (History.Add finds them while it merges: no lookups per event
// on the path every task's report takes).
func (s *Server) taskFailureEvents(failed []*rpcpb.TaskState) {
	for _, st := range failed {
		fields := map[string]string{"task_id": st.TaskId, "attempt_number": strconv.Itoa(int(st.Attempt)), "job_id": st.JobId,
			"error_type": st.ErrorType}
		if st.NodeId != "" {
			fields["node_id"], fields["worker_id"] = st.NodeId, st.WorkerId
		}
		s.events.add(ev.Error, ev.SourceCoreWorker, fmt.Sprintf("task %s (%s) attempt %d failed: %s: %s", st.TaskId, st.GetInfo().GetName(),
			st.Attempt, st.ErrorType, st.ErrorMessage), fields)
	}
}

func (s *Server) jobEvent(j *rpcpb.JobInfo, finished bool) {
	what := "started"
	if finished {
		what = "finished"
	}
	s.events.add(ev.Info, ev.SourceGCS, fmt.Sprintf("job %s %s (driver %s)", j.JobId, what, j.DriverAddress),
		map[string]string{"job_id": j.JobId})
}

// autoscalerEvent records a new decision or error of the autoscaler (it
// reports its state every round, mostly unchanged).
func (s *Server) autoscalerEvent(in *rpcpb.AutoscalingState) {
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	l := s.events
	fields := map[string]string{"cluster_name": in.ClusterName}
	if key := strconv.FormatInt(in.LastDecisionTimestampMs, 10) + " " + in.LastDecision; in.LastDecision != "" && key != l.lastDecision {
		l.s.Add(ev.Info, ev.SourceAutoscaler, in.LastDecision, fields)
		l.lastDecision = key
	}
	if in.Error != "" && in.Error != l.lastError {
		l.s.Add(ev.Warning, ev.SourceAutoscaler, "autoscaler error: "+in.Error, fields)
	}
	l.lastError = in.Error
}

func (s *Server) drainEvent(in *rpcpb.DrainNodeRequest) {
	s.events.add(ev.Info, ev.SourceAutoscaler, fmt.Sprintf("node %s is draining (%s: %s)", in.NodeId, in.Reason, in.ReasonMessage),
		map[string]string{"node_id": in.NodeId})
}

// unregisteredPrefix starts the death cause of a node that left on purpose.
const unregisteredPrefix = "unregistered: "
