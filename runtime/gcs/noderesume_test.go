package gcs

import (
	"context"
	"net"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestReturningNodeFailsActorsWhoseWorkersAreGone: an actor restored ALIVE
// from the storage whose worker exited while the GCS was down (its exit
// report was lost) fails when its node registers again without that
// worker; an actor whose worker the node still runs stays ALIVE at its
// address.
func TestReturningNodeFailsActorsWhoseWorkersAreGone(t *testing.T) {
	ctx := context.Background()
	s := openFileGCS(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	node := &rpcpb.NodeInfo{Address: lis.Addr().String(), Total: map[string]float64{"CPU": 1}}
	reg, err := s.RegisterNode(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: "h"})
	if err != nil {
		t.Fatal(err)
	}
	// Two detached actors, made ALIVE on the node by hand (they need a
	// resource no node has, so nothing schedules them meanwhile).
	ids := map[string]string{} // worker → actor
	for _, w := range []string{"w-kept", "w-gone"} {
		a, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "C", Name: w, Namespace: "ns", Detached: true, JobId: j.JobId,
			Resources: map[string]float64{"nowhere": 1}})
		if err != nil {
			t.Fatal(err)
		}
		s.mu.Lock()
		s.dir.Created(a.ActorId, reg.NodeId, w, "127.0.0.1:1")
		s.saveActorsLocked(nil, a.ActorId)
		s.mu.Unlock()
		ids[w] = a.ActorId
	}
	if err := s.settle(ctx); err != nil {
		t.Fatal(err)
	}
	s.restart()
	state := func(w string) string {
		a, err := s.GetActor(ctx, &rpcpb.GetActorRequest{ActorId: ids[w]})
		if err != nil {
			t.Fatal(err)
		}
		return a.State.String()
	}
	if state("w-kept") != "ALIVE" || state("w-gone") != "ALIVE" {
		t.Fatalf("restored: %s, %s; want both ALIVE", state("w-kept"), state("w-gone"))
	}
	node.NodeId, node.WorkerIds = reg.NodeId, []string{"w-kept", "w-other"}
	if _, err := s.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	if state("w-kept") != "ALIVE" || state("w-gone") != "DEAD" {
		t.Fatalf("after the node registered again: kept %s, gone %s; want ALIVE, DEAD", state("w-kept"), state("w-gone"))
	}
	// Registering again (not loaded from the storage any more) changes nothing.
	node.WorkerIds = nil
	if _, err := s.RegisterNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	if state("w-kept") != "ALIVE" {
		t.Fatalf("a second registration failed the actor: %s", state("w-kept"))
	}
}
