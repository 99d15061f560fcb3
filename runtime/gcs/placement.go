package gcs

import (
	"context"
	"fmt"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/internal/ids"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

type placementGroup struct {
	id    string
	spec  *rpcpb.PlacementGroupSpec
	state string // PENDING, CREATED, REMOVED, INFEASIBLE
	nodes []string
}

func (s *Server) pgInfoLocked(pg *placementGroup) *rpcpb.PlacementGroupInfo {
	info := &rpcpb.PlacementGroupInfo{PlacementGroupId: pg.id, State: pg.state, BundleNodes: pg.nodes, Spec: pg.spec}
	for _, n := range pg.nodes {
		addr := ""
		if r, ok := s.nodes[n]; ok {
			addr = r.info.Address
		}
		info.BundleAddresses = append(info.BundleAddresses, addr)
	}
	return info
}

// CreatePlacementGroup reserves bundles atomically (scheduling continues in
// the background while the cluster has no room).
func (s *Server) CreatePlacementGroup(ctx context.Context, in *rpcpb.PlacementGroupSpec) (*rpcpb.PlacementGroupInfo, error) {
	if len(in.Bundles) == 0 {
		return nil, status.Error(codes.InvalidArgument, "a placement group needs at least one bundle")
	}
	if in.Strategy == "" {
		in.Strategy = scheduler.Pack
	}
	if _, _, err := scheduler.PlaceBundles(nil, nil, in.Strategy); err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	for i, b := range in.Bundles {
		empty := true
		for _, v := range b.Resources {
			if v > 0 {
				empty = false
			}
		}
		if empty {
			return nil, status.Errorf(codes.InvalidArgument, "bundle %d is empty: every bundle needs a positive resource", i)
		}
	}
	if n := proto.Size(in); n > maxSpecRecord {
		return nil, status.Errorf(codes.InvalidArgument, "placement group spec of %d bytes; at most %d", n, maxSpecRecord)
	}
	pg := &placementGroup{id: ids.New(), spec: in, state: "PENDING"}
	s.mu.Lock()
	s.pgs[pg.id] = pg
	info := s.pgInfoLocked(pg)
	seq := s.persistLocked(pgOp(pg))
	s.mu.Unlock()
	if err := s.durable(ctx, seq); err != nil {
		s.mu.Lock()
		delete(s.pgs, pg.id)
		s.persistLocked(storage.Op{Table: storage.PlacementGroups, Key: pg.id, Delete: true})
		s.mu.Unlock()
		return nil, err
	}
	go s.schedulePG(pg)
	return info, nil
}

func bundles(spec *rpcpb.PlacementGroupSpec) []scheduler.Resources {
	out := make([]scheduler.Resources, len(spec.Bundles))
	for i, b := range spec.Bundles {
		out[i] = b.Resources
	}
	return out
}

func (s *Server) schedulePG(pg *placementGroup) {
	for backoff := 20 * time.Millisecond; ; backoff = min(backoff*2, 500*time.Millisecond) {
		select {
		case <-s.stop:
			return
		default:
		}
		s.mu.Lock()
		if pg.state != "PENDING" {
			s.mu.Unlock()
			return
		}
		nodes, st, _ := scheduler.PlaceBundles(s.snapshotLocked(), bundles(pg.spec), pg.spec.Strategy)
		s.mu.Unlock()
		if st == scheduler.Placed && s.reserve(pg, nodes) {
			return
		}
		time.Sleep(backoff)
	}
}

// reserve is the two-phase commit: reserve on every node, or release them all.
func (s *Server) reserve(pg *placementGroup, nodes []string) bool {
	byNode := map[string]map[int32]*rpcpb.Bundle{}
	for i, n := range nodes {
		if byNode[n] == nil {
			byNode[n] = map[int32]*rpcpb.Bundle{}
		}
		byNode[n][int32(i)] = pg.spec.Bundles[i]
	}
	var done []string
	ok := true
	for n, b := range byNode {
		c, _, found := s.nodeClient(n)
		if !found {
			ok = false
			break
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := c.ReserveBundles(ctx, &rpcpb.ReserveBundlesRequest{PlacementGroupId: pg.id, Bundles: b})
		cancel()
		if err != nil || !r.Ok {
			ok = false
			break
		}
		done = append(done, n)
	}
	s.mu.Lock()
	if ok && pg.state == "PENDING" {
		pg.state, pg.nodes = "CREATED", nodes
		s.persistLocked(pgOp(pg))
		s.notifyLocked()
		s.mu.Unlock()
		return true
	}
	s.mu.Unlock()
	s.release(pg.id, done)
	return false
}

func (s *Server) release(pgID string, nodes []string) {
	seen := map[string]bool{}
	for _, n := range nodes {
		if seen[n] {
			continue
		}
		seen[n] = true
		if c, _, ok := s.nodeClient(n); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, _ = c.ReleaseBundles(ctx, &rpcpb.ReleaseBundlesRequest{PlacementGroupId: pgID})
			cancel()
		}
	}
}

func (s *Server) pgsOnNodeLocked(node string) []*placementGroup {
	var out []*placementGroup
	for _, pg := range s.pgs {
		for _, n := range pg.nodes {
			if n == node && pg.state == "CREATED" {
				out = append(out, pg)
				break
			}
		}
	}
	return out
}

// reschedulePG moves a group that lost a node back to PENDING and places it again.
func (s *Server) reschedulePG(pg *placementGroup) {
	s.mu.Lock()
	nodes := pg.nodes
	pg.state, pg.nodes = "PENDING", nil
	if _, ok := s.pgs[pg.id]; ok {
		s.persistLocked(pgOp(pg))
	}
	s.notifyLocked()
	s.mu.Unlock()
	s.release(pg.id, nodes)
	go s.schedulePG(pg)
}

func (s *Server) pgNodeLocked(pgID string, bundle int32) string {
	pg, ok := s.pgs[pgID]
	if !ok || pg.state != "CREATED" {
		return ""
	}
	if bundle >= 0 && int(bundle) < len(pg.nodes) {
		return pg.nodes[bundle]
	}
	if len(pg.nodes) > 0 {
		return pg.nodes[0]
	}
	return ""
}

// GetPlacementGroup returns a group, optionally waiting until it is created.
func (s *Server) GetPlacementGroup(ctx context.Context, in *rpcpb.GetPlacementGroupRequest) (*rpcpb.PlacementGroupInfo, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		pg, ok := s.pgs[in.PlacementGroupId]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "placement group %s does not exist", in.PlacementGroupId)
		}
		if !in.Wait || pg.state != "PENDING" {
			return s.pgInfoLocked(pg), nil
		}
		if err := s.waitLocked(ctx); err != nil {
			return s.pgInfoLocked(pg), nil
		}
	}
}

// RemovePlacementGroup releases a group's bundles.
func (s *Server) RemovePlacementGroup(ctx context.Context, in *rpcpb.GetPlacementGroupRequest) (*rpcpb.Empty, error) {
	if err := s.removePG(in.PlacementGroupId); err != nil {
		return nil, err
	}
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	return &rpcpb.Empty{}, nil
}

func (s *Server) removePG(id string) error {
	s.mu.Lock()
	pg, ok := s.pgs[id]
	if !ok {
		s.mu.Unlock()
		return status.Error(codes.NotFound, fmt.Sprintf("placement group %s does not exist", id))
	}
	nodes := pg.nodes
	pg.state, pg.nodes = "REMOVED", nil
	delete(s.pgs, id)
	s.persistLocked(storage.Op{Table: storage.PlacementGroups, Key: id, Delete: true})
	s.notifyLocked()
	s.mu.Unlock()
	s.release(id, nodes)
	return nil
}

// ListPlacementGroups lists every placement group the GCS holds (the state API).
func (s *Server) ListPlacementGroups(ctx context.Context, _ *rpcpb.Empty) (*rpcpb.PlacementGroupList, error) {
	if err := s.settle(ctx); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &rpcpb.PlacementGroupList{}
	for _, pg := range s.pgs {
		out.PlacementGroups = append(out.PlacementGroups, proto.CloneOf(s.pgInfoLocked(pg)))
	}
	sort.Slice(out.PlacementGroups, func(i, j int) bool {
		return out.PlacementGroups[i].PlacementGroupId < out.PlacementGroups[j].PlacementGroupId
	})
	return out, nil
}
