package gcs

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Node statuses of the resource state (Ray's NodeStatus).
const (
	StatusRunning  = "RUNNING"
	StatusIdle     = "IDLE"
	StatusDraining = "DRAINING"
	StatusDead     = "DEAD"
)

func (n *nodeRec) status() string {
	switch {
	case !n.alive:
		return StatusDead
	case n.draining:
		return StatusDraining
	case n.idleMs > 0:
		return StatusIdle
	}
	return StatusRunning
}

// DrainNode asks a node to take no new work. The node itself decides, under
// its own lock, whether it is busy (leases, queued requests, bundles or
// objects in its store), so that no lease slips in between the check and
// the drain; PREEMPTION drains are always accepted. The head is never drained.
func (s *Server) DrainNode(ctx context.Context, in *rpcpb.DrainNodeRequest) (*rpcpb.DrainNodeReply, error) {
	s.mu.Lock()
	n, ok := s.nodes[in.NodeId]
	switch {
	case !ok:
		s.mu.Unlock()
		return nil, status.Errorf(codes.NotFound, "node %s is not registered", in.NodeId)
	case !n.alive:
		s.mu.Unlock()
		// Ray accepts draining a dead node: it is already gone.
		return &rpcpb.DrainNodeReply{IsAccepted: true}, nil
	case n.info.IsHead:
		s.mu.Unlock()
		return &rpcpb.DrainNodeReply{RejectionReasonMessage: "the head node is never drained"}, nil
	}
	s.mu.Unlock()
	c, _, ok := s.nodeClient(in.NodeId)
	if !ok {
		return nil, status.Errorf(codes.Unavailable, "no connection to node %s", in.NodeId)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rep, err := c.DrainNode(rctx, in)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "drain node %s: %v", in.NodeId, err)
	}
	if rep.IsAccepted {
		s.mu.Lock()
		if n, ok := s.nodes[in.NodeId]; ok && n.alive && !n.draining {
			n.draining = true
			s.persistLocked(nodeOp(in.NodeId, n))
			s.notifyLocked()
		}
		s.mu.Unlock()
		s.log.Printf("node %s draining (%s: %s)", in.NodeId, in.Reason, in.ReasonMessage)
		s.drainEvent(in)
	}
	return rep, nil
}

// UnregisterNode marks a node that leaves on purpose as dead right away,
// instead of after the heartbeat timeout.
func (s *Server) UnregisterNode(ctx context.Context, in *rpcpb.UnregisterNodeRequest) (*rpcpb.Empty, error) {
	s.mu.Lock()
	n, ok := s.nodes[in.NodeId]
	if !ok || !n.alive {
		s.mu.Unlock()
		return &rpcpb.Empty{}, nil
	}
	n.alive = false
	n.death = unregisteredPrefix + in.Reason
	s.mu.Unlock()
	go s.nodeDied(in.NodeId) // actor restarts and placement groups move on in the background
	return &rpcpb.Empty{}, nil
}

// RequestClusterResourceConstraint replaces the minimum cluster shape.
func (s *Server) RequestClusterResourceConstraint(ctx context.Context, in *rpcpb.ResourceConstraint) (*rpcpb.Empty, error) {
	var keep []*rpcpb.ResourceDemand
	for i, r := range in.Requests {
		for k, v := range r.Shape {
			if v < 0 {
				return nil, status.Errorf(codes.InvalidArgument, "request %d: negative resource %s=%g", i, k, v)
			}
		}
		if r.Count < 0 {
			return nil, status.Errorf(codes.InvalidArgument, "request %d: negative count %d", i, r.Count)
		}
		if r.Count > 0 && len(r.Shape) > 0 {
			keep = append(keep, &rpcpb.ResourceDemand{Shape: r.Shape, Count: r.Count})
		}
	}
	s.mu.Lock()
	s.constraints = keep
	b, _ := proto.Marshal(&rpcpb.ResourceConstraint{Requests: keep})
	seq := s.persistLocked(metaOp(metaConstraints, string(b)))
	s.notifyLocked()
	s.mu.Unlock()
	if err := s.durable(ctx, seq); err != nil {
		return nil, err
	}
	s.log.Printf("cluster resource constraint set to %s", fmtDemands(keep))
	return &rpcpb.Empty{}, nil
}

// ReportAutoscalingState stores the autoscaler's last report.
func (s *Server) ReportAutoscalingState(ctx context.Context, in *rpcpb.AutoscalingState) (*rpcpb.Empty, error) {
	s.mu.Lock()
	s.autoscaling = in
	s.mu.Unlock()
	s.autoscalerEvent(in)
	return &rpcpb.Empty{}, nil
}

func fmtDemands(ds []*rpcpb.ResourceDemand) string {
	if len(ds) == 0 {
		return "(none)"
	}
	out := ""
	for i, d := range ds {
		if i > 0 {
			out += ", "
		}
		out += fmt.Sprintf("%d×%v", d.Count, d.Shape)
	}
	return out
}
