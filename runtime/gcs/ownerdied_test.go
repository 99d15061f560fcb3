package gcs

import (
	"context"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A non-detached actor dies with the worker that owns it (its exit
// reported by its node) or with that worker's node, without a restart; a
// detached one and a driver's are left alone, also for actors reloaded by
// a restarted GCS.
func TestOwnerDeathEndsItsActors(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	s := openGCS(t, st)
	// CPU 100: never placed (no node fits), which an owner's death does not mind.
	mk := func(s *Server, name, ownerWorker, ownerNode string, detached bool) string {
		a, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "A", Name: name, Detached: detached, MaxRestarts: -1,
			OwnerAddress: "127.0.0.1:5000", OwnerWorkerId: ownerWorker, OwnerNodeId: ownerNode, Resources: map[string]float64{"CPU": 100}})
		if err != nil {
			t.Fatal(err)
		}
		return a.ActorId
	}
	get := func(s *Server, id string) *rpcpb.ActorInfo {
		a, err := s.GetActor(ctx, &rpcpb.GetActorRequest{ActorId: id})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	ownerDead := func(a *rpcpb.ActorInfo, owner string) bool {
		return a.State == rpcpb.ActorState_DEAD && strings.HasPrefix(a.DeathCause, actors.OwnerDiedCause) &&
			strings.Contains(a.DeathCause, "Owner Id: "+owner+" ")
	}
	owned, detached, driver := mk(s, "owned", "w1", "n1", false), mk(s, "detached", "w1", "n1", true), mk(s, "driver", "", "", false)
	other := mk(s, "other", "w2", "n1", false)
	onNode := mk(s, "on-node", "w3", "n2", false)
	if _, err := s.ReportWorkerFailure(ctx, &rpcpb.WorkerFailure{NodeId: "n1", WorkerId: "w1", Reason: "worker process 7 exited: signal: killed"}); err != nil {
		t.Fatal(err)
	}
	if a := get(s, owned); !ownerDead(a, "w1") || !strings.Contains(a.DeathCause, "signal: killed") {
		t.Fatalf("the owned actor after its owner's exit: %s %q", a.State, a.DeathCause)
	}
	for _, id := range []string{detached, driver, other, onNode} {
		if a := get(s, id); a.State == rpcpb.ActorState_DEAD {
			t.Fatalf("actor %s died with another process: %q", a.Name, a.DeathCause)
		}
	}
	s.Stop()

	s = openGCS(t, st)
	defer s.Stop()
	if _, err := s.ReportWorkerFailure(ctx, &rpcpb.WorkerFailure{NodeId: "n1", WorkerId: "w2", Reason: "exit status 1"}); err != nil {
		t.Fatal(err)
	}
	if a := get(s, other); !ownerDead(a, "w2") {
		t.Fatalf("after a restart, the owned actor after its owner's exit: %s %q", a.State, a.DeathCause)
	}
	reg, err := s.RegisterNode(ctx, &rpcpb.NodeInfo{NodeId: "n2", Address: "127.0.0.1:1", Ip: "127.0.0.1", Total: map[string]float64{"CPU": 1}})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.nodes[reg.NodeId].alive, s.nodes[reg.NodeId].death = false, "test"
	s.mu.Unlock()
	s.nodeDied(reg.NodeId)
	if a := get(s, onNode); !ownerDead(a, "w3") || !strings.Contains(a.DeathCause, "node n2 died") {
		t.Fatalf("the owned actor after its owner's node died: %s %q", a.State, a.DeathCause)
	}
	for _, id := range []string{detached, driver} {
		if a := get(s, id); a.State == rpcpb.ActorState_DEAD {
			t.Fatalf("actor %s died: %q", a.Name, a.DeathCause)
		}
	}
}
