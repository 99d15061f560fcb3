package gcs

import (
	"context"
	"testing"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// The owner's out-of-scope report (KillActor out_of_scope) ends its
// non-detached actor; other processes' reports and detached actors are
// ignored, also for actors reloaded by a restarted GCS.
func TestOutOfScopeReport(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	s := openGCS(t, st)
	const owner, other = "127.0.0.1:5000", "127.0.0.1:6000"
	// CPU 100: never placed (no node), which OutOfScope does not mind.
	spec := func(name string, detached bool) *rpcpb.ActorSpec {
		return &rpcpb.ActorSpec{ClassName: "A", Name: name, Detached: detached, OwnerAddress: owner, Resources: map[string]float64{"CPU": 100}}
	}
	mk := func(s *Server, name string, detached bool) string {
		a, err := s.CreateActor(ctx, spec(name, detached))
		if err != nil {
			t.Fatal(err)
		}
		if a.OwnerAddress != owner {
			t.Fatalf("owner_address %q", a.OwnerAddress)
		}
		return a.ActorId
	}
	report := func(s *Server, id, from string) *rpcpb.ActorInfo {
		if _, err := s.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: id, OutOfScope: true, OwnerAddress: from}); err != nil {
			t.Fatal(err)
		}
		a, err := s.GetActor(ctx, &rpcpb.GetActorRequest{ActorId: id})
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	a1, d1, a2 := mk(s, "a1", false), mk(s, "d1", true), mk(s, "a2", false)
	if a := report(s, a1, other); a.State == rpcpb.ActorState_DEAD {
		t.Fatal("another process's report ended the actor")
	}
	if a := report(s, a1, owner); a.State != rpcpb.ActorState_DEAD || a.DeathCause != actors.OutOfScopeCause {
		t.Fatalf("after the owner's report: %s %q", a.State, a.DeathCause)
	}
	if a := report(s, d1, owner); a.State == rpcpb.ActorState_DEAD {
		t.Fatal("a detached actor ended")
	}
	if _, err := s.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: "nope", OutOfScope: true, OwnerAddress: owner}); err != nil {
		t.Fatalf("a report on an unknown actor: %v", err)
	}
	s.Stop()

	s = openGCS(t, st)
	defer s.Stop()
	if a := report(s, a2, other); a.State == rpcpb.ActorState_DEAD {
		t.Fatal("after a restart, another process's report ended the actor")
	}
	if a := report(s, a2, owner); a.State != rpcpb.ActorState_DEAD || a.DeathCause != actors.OutOfScopeCause {
		t.Fatalf("after a restart, the owner's report: %s %q", a.State, a.DeathCause)
	}
}
