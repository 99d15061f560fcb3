package gcs

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// A job whose driver is found dead ends: the record says finished (also
// after a restart on the storage), the non-detached actors the driver made
// die with the owner-died cause naming the job, its detached ones live on.
// A finding about an address that is no longer the job's driver (the job
// was taken over again) changes nothing.
func TestDriverDeathEndsItsJob(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	s := openGCS(t, st)
	const driver = "127.0.0.1:5000"
	j, err := s.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: "h", DriverAddress: driver})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string, detached bool) string {
		a, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "A", Name: name, JobId: j.JobId, Detached: detached, MaxRestarts: -1,
			OwnerAddress: driver, Resources: map[string]float64{"CPU": 100}})
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
	owned, detached := mk("owned", false), mk("detached", true)
	// Another driver holds the job now: nothing happens.
	if err := s.endJob(ctx, j.JobId, "127.0.0.1:6000", "test"); err != nil {
		t.Fatal(err)
	}
	if a := get(s, owned); a.State == rpcpb.ActorState_DEAD {
		t.Fatalf("an actor died on a finding about another address: %q", a.DeathCause)
	}
	if err := s.endJob(ctx, j.JobId, driver, "nothing listened at its address for 10s (6 probes)"); err != nil {
		t.Fatal(err)
	}
	a := get(s, owned)
	if a.State != rpcpb.ActorState_DEAD || !strings.HasPrefix(a.DeathCause, actors.OwnerDiedCause) ||
		!strings.Contains(a.DeathCause, "driver of job "+j.JobId) || !strings.Contains(a.DeathCause, "nothing listened") {
		t.Fatalf("the driver's actor: %s %q", a.State, a.DeathCause)
	}
	if a := get(s, detached); a.State == rpcpb.ActorState_DEAD {
		t.Fatalf("the detached actor died: %q", a.DeathCause)
	}
	finished := func(s *Server) *rpcpb.JobInfo {
		jobs, err := s.GetJobs(ctx, &rpcpb.Empty{})
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range jobs.Jobs {
			if x.JobId == j.JobId {
				return x
			}
		}
		t.Fatalf("job %s is gone", j.JobId)
		return nil
	}
	if x := finished(s); !x.Finished || x.EndTimeMs == 0 {
		t.Fatalf("the job after its driver died: %v", x)
	}
	s.Stop()
	s = openGCS(t, st)
	defer s.Stop()
	if x := finished(s); !x.Finished {
		t.Fatalf("the job after a GCS restart: %v", x)
	}
	// Nothing unfinished was loaded: drivers are judged from the start.
	if !s.driversQuietUntil.IsZero() {
		t.Fatalf("quiet until %v with no unfinished job loaded", s.driversQuietUntil)
	}
}

// A GCS restarted on a storage with an unfinished job judges no driver for
// driverRestoredGrace (the serve controller takes its job over again in
// that window).
func TestRestoredDriversHaveAGrace(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	s := openGCS(t, st)
	if _, err := s.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: "h", DriverAddress: "127.0.0.1:5000"}); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	before := time.Now()
	s = openGCS(t, st)
	defer s.Stop()
	if s.driversQuietUntil.Before(before.Add(driverRestoredGrace)) {
		t.Fatalf("quiet until %v, want at least %v", s.driversQuietUntil, before.Add(driverRestoredGrace))
	}
}
