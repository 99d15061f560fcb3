package gcs

import (
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestCheckLightweight(t *testing.T) {
	pg := &rpcpb.SchedulingStrategy{Kind: rpcpb.SchedulingStrategy_PLACEMENT_GROUP, PlacementGroupId: "pg"}
	for _, c := range []struct {
		spec *rpcpb.ActorSpec
		ok   bool
	}{
		{&rpcpb.ActorSpec{Lightweight: true}, true},
		{&rpcpb.ActorSpec{Lightweight: true, Resources: map[string]float64{"CPU": 0}}, true},
		{&rpcpb.ActorSpec{Lightweight: true, Resources: map[string]float64{"CPU": 0.5}}, false},
		{&rpcpb.ActorSpec{Lightweight: true, Detached: true}, false},
		{&rpcpb.ActorSpec{Lightweight: true, Strategy: pg}, false},
		{&rpcpb.ActorSpec{Resources: map[string]float64{"CPU": 1}, Detached: true, Strategy: pg}, true},
	} {
		if err := checkLightweight(c.spec); (err == nil) != c.ok {
			t.Errorf("%v: %v", c.spec, err)
		}
	}
}

// A host is shared by one job's lightweight actors with the same
// environment on one node, in whatever order the variables come.
func TestHostKey(t *testing.T) {
	a := hostKey("n1", &rpcpb.ActorSpec{JobId: "j1", EnvVars: map[string]string{"A": "1", "B": "2"}})
	b := hostKey("n1", &rpcpb.ActorSpec{JobId: "j1", EnvVars: map[string]string{"B": "2", "A": "1"}})
	if a != b {
		t.Fatal("same shape, different hosts")
	}
	for _, other := range []string{
		hostKey("n2", &rpcpb.ActorSpec{JobId: "j1", EnvVars: map[string]string{"A": "1", "B": "2"}}),
		hostKey("n1", &rpcpb.ActorSpec{JobId: "j2", EnvVars: map[string]string{"A": "1", "B": "2"}}),
		hostKey("n1", &rpcpb.ActorSpec{JobId: "j1", EnvVars: map[string]string{"A": "1"}}),
		hostKey("n1", &rpcpb.ActorSpec{JobId: "j1", EnvVars: map[string]string{"A": "1=B=2"}}),
	} {
		if other == a {
			t.Fatalf("another shape shares the host %q", a)
		}
	}
}
