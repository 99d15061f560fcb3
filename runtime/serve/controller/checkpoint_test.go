package controller

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// A controller restored from the checkpoint another one wrote answers the
// status API as that one did: the config, applications, deployments and
// replicas (ids, actors, pids, start times, states). A replica is marked
// saved once a checkpoint holding it is durable; one already gone is not
// in it.
func TestCheckpointRestoresTheStatus(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	if err := tc.apply(t, config(2, `,"deployments":[{"name":"D","num_replicas":2,"user_config":{"k":1}}]`)); err != nil {
		t.Fatal(err)
	}
	c := tc.c
	start := time.Unix(1700000000, 5)
	c.mu.Lock()
	d := c.apps["a0"].deps["D"]
	mk := func(id, actor, state string, pid int) *rep {
		return &rep{id: id, actorID: actor, state: state, key: d.key, userCfg: `{"k":1}`, startedAt: start, cancel: func() {},
			actorName: replicaActorName("a0", "D", id), savedCh: make(chan struct{}),
			info: wire.Info{Address: "127.0.0.2:4000", PID: pid, NodeID: "n1", NodeIP: "127.0.0.2", WorkerID: "w-" + id}}
	}
	running, starting, stopping, gone := mk("r1", "actor1", schema.ReplicaRunning, 11), mk("r2", "", schema.ReplicaStarting, 0),
		mk("r3", "actor3", schema.ReplicaStopping, 13), mk("r4", "actor4", schema.ReplicaRunning, 14)
	gone.gone = true
	d.reps = []*rep{running, starting, stopping, gone}
	for _, a := range c.apps {
		a.status, a.wasRunning = schema.AppRunning, true
		for _, d := range a.deps {
			d.status, d.trigger, d.target = schema.DepHealthy, schema.TriggerConfigUpdateCompleted, 2
		}
	}
	c.mu.Unlock()
	for _, r := range []*rep{running, starting, stopping} {
		select {
		case <-r.savedCh:
			t.Fatalf("replica %s saved before any checkpoint held it", r.id)
		default:
		}
	}
	if err := c.saveCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range []*rep{running, starting, stopping} {
		select {
		case <-r.savedCh:
		default:
			t.Fatalf("replica %s not marked saved after the checkpoint", r.id)
		}
	}
	ck, found, err := loadCheckpoint(context.Background(), c.cfg.GCS)
	if err != nil || !found {
		t.Fatalf("load: found=%v %v", found, err)
	}
	var ids []string
	for _, a := range ck.Apps {
		for _, d := range a.Deps {
			for _, r := range d.Reps {
				ids = append(ids, a.Name+"/"+r.ID)
			}
		}
	}
	if len(ids) != 3 || ids[0] != "a0/r1" || ids[1] != "a0/r2" || ids[2] != "a0/r3" {
		t.Fatalf("replicas in the checkpoint: %v, want a0/r1 a0/r2 a0/r3 (not the gone r4)", ids)
	}

	fresh := &Controller{cfg: c.cfg, log: c.log, apps: map[string]*app{}, jobs: map[string]*job{}}
	fresh.restoreLocked(ck)
	// Until resume has checked them, restored replicas are RECOVERING.
	for _, r := range fresh.Details(context.Background()).Applications["a0"].Deployments["D"].Replicas {
		if r.State != schema.ReplicaRecovering {
			t.Fatalf("restored replica %s is %s before it was re-adopted, want RECOVERING", r.ReplicaID, r.State)
		}
	}
	for _, d := range fresh.apps["a0"].deps {
		for _, r := range d.reps {
			r.adopting = false
		}
	}
	want, got := c.Details(context.Background()), fresh.Details(context.Background())
	// The gone replica is not listed by either.
	wb, _ := json.Marshal(want)
	gb, _ := json.Marshal(got)
	if string(wb) != string(gb) {
		t.Fatalf("status after the restore:\n%s\nbefore:\n%s", gb, wb)
	}
	rd := fresh.apps["a0"].deps["D"]
	if rd.key != d.key || len(rd.reps) != 3 || rd.reps[1].actorName != replicaActorName("a0", "D", "r2") {
		t.Fatalf("restored deployment: key %s (want %s), %d replicas", rd.key, d.key, len(rd.reps))
	}

	// An unchanged state is not written again; a change is.
	before := string(c.savedCk)
	if err := c.saveCheckpoint(context.Background()); err != nil || string(c.savedCk) != before {
		t.Fatalf("an unchanged state was written again (%v)", err)
	}
	c.mu.Lock()
	running.state = schema.ReplicaStopping
	c.mu.Unlock()
	if err := c.saveCheckpoint(context.Background()); err != nil || string(c.savedCk) == before {
		t.Fatalf("a changed state was not written (%v)", err)
	}
}

// A DELETE's outcome (no applications) is checkpointed too: a restarted
// controller resumes none.
func TestCheckpointOfNoApplications(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	if err := tc.apply(t, config(1, "")); err != nil {
		t.Fatal(err)
	}
	c := tc.c
	c.mu.Lock()
	c.apps, c.deployed = map[string]*app{}, nil
	c.mu.Unlock()
	if err := c.saveCheckpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	ck, found, err := loadCheckpoint(context.Background(), c.cfg.GCS)
	if err != nil || !found || len(ck.Apps) != 0 || ck.Deployed != nil {
		t.Fatalf("checkpoint after the last application went: found=%v apps=%d deployed=%v err=%v", found, len(ck.Apps), ck.Deployed, err)
	}
}

func TestAdoptionFor(t *testing.T) {
	alive := &rpcpb.ActorInfo{State: rpcpb.ActorState_ALIVE}
	for _, c := range []struct {
		state string
		actor *rpcpb.ActorInfo
		want  adoption
	}{
		{schema.ReplicaRunning, alive, adoptCheck},
		{schema.ReplicaUpdating, alive, adoptCheck},
		{schema.ReplicaStarting, alive, adoptCheck},
		{schema.ReplicaStarting, &rpcpb.ActorInfo{State: rpcpb.ActorState_PENDING_CREATION}, adoptCheck},
		{schema.ReplicaRunning, &rpcpb.ActorInfo{State: rpcpb.ActorState_RESTARTING}, adoptCheck},
		{schema.ReplicaRunning, &rpcpb.ActorInfo{State: rpcpb.ActorState_DEAD}, adoptForget},
		{schema.ReplicaRunning, nil, adoptForget},
		{schema.ReplicaStarting, nil, adoptForget}, // the crash came before its actor was created
		{schema.ReplicaStopping, alive, adoptKill},
		{schema.ReplicaStopping, nil, adoptKill},
	} {
		if got := adoptionFor(c.state, c.actor); got != c.want {
			t.Errorf("adoptionFor(%s, %v) = %v, want %v", c.state, c.actor, got, c.want)
		}
	}
	if got := adoptTimeout(alive, 3*time.Second); got != 3*time.Second {
		t.Errorf("adoptTimeout of an alive actor = %v, want its health check timeout", got)
	}
	if got := adoptTimeout(&rpcpb.ActorInfo{State: rpcpb.ActorState_PENDING_CREATION}, 3*time.Second); got != pendingAdoptTimeout {
		t.Errorf("adoptTimeout of an actor being placed = %v, want %v", got, pendingAdoptTimeout)
	}
}
