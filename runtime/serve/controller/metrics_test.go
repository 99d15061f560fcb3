package controller

import (
	"reflect"
	"testing"

	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

func TestReplicaStates(t *testing.T) {
	shop := "/shop"
	a := &app{name: "shop", deps: map[string]*dep{}, spec: schema.ServeApplicationSchema{RoutePrefix: &shop}}
	d := &dep{app: a, name: "Cart", reps: []*rep{
		{id: "Cart#a", state: schema.ReplicaRunning, stats: wire.Stats{Ongoing: 2, Requests: 5, Errors: 1, Latency: []uint64{4, 1}, LatencySumMs: 3.5}},
		{id: "Cart#b", state: schema.ReplicaRunning, healthFails: 1},
		{id: "Cart#c", state: schema.ReplicaStarting},
		{id: "Cart#d", state: schema.ReplicaUpdating},
		{id: "Cart#e", state: schema.ReplicaRunning, stopping: true},
		{id: "Cart#f", state: schema.ReplicaRunning, gone: true},
	}}
	a.deps["Cart"] = d
	old := &app{name: "shop", deps: map[string]*dep{"Cart": {name: "Cart", reps: []*rep{{id: "Cart#z", state: schema.ReplicaRunning}}}}}
	c := &Controller{apps: map[string]*app{"shop": a, "shop\x00stopping": old}}
	want := []metrics.ReplicaState{
		{Application: "shop", Deployment: "Cart", Replica: "Cart#a", Route: "/shop", Healthy: true, Read: true, Processing: 2,
			Requests: 5, Errors: 1, Latency: []uint64{4, 1}, LatencySumMs: 3.5},
		{Application: "shop", Deployment: "Cart", Replica: "Cart#b", Route: "/shop"},
		{Application: "shop", Deployment: "Cart", Replica: "Cart#c", Route: "/shop"},
		{Application: "shop", Deployment: "Cart", Replica: "Cart#d", Route: "/shop", Healthy: true},
	}
	if got := c.ReplicaStates(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReplicaStates\n got %+v\nwant %+v", got, want)
	}
}
