package controller

import (
	"reflect"
	"testing"

	"github.com/goray-dev/goray/runtime/metrics"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

func TestReplicaHealth(t *testing.T) {
	a := &app{name: "shop", deps: map[string]*dep{}}
	d := &dep{app: a, name: "Cart", reps: []*rep{
		{id: "Cart#a", state: schema.ReplicaRunning},
		{id: "Cart#b", state: schema.ReplicaRunning, healthFails: 1},
		{id: "Cart#c", state: schema.ReplicaStarting},
		{id: "Cart#d", state: schema.ReplicaUpdating},
		{id: "Cart#e", state: schema.ReplicaRunning, stopping: true},
		{id: "Cart#f", state: schema.ReplicaRunning, gone: true},
	}}
	a.deps["Cart"] = d
	old := &app{name: "shop", deps: map[string]*dep{"Cart": {name: "Cart", reps: []*rep{{id: "Cart#z", state: schema.ReplicaRunning}}}}}
	c := &Controller{apps: map[string]*app{"shop": a, "shop\x00stopping": old}}
	want := []metrics.ReplicaHealth{
		{Application: "shop", Deployment: "Cart", Replica: "Cart#a", Healthy: true},
		{Application: "shop", Deployment: "Cart", Replica: "Cart#b"},
		{Application: "shop", Deployment: "Cart", Replica: "Cart#c"},
		{Application: "shop", Deployment: "Cart", Replica: "Cart#d", Healthy: true},
	}
	if got := c.ReplicaHealth(); !reflect.DeepEqual(got, want) {
		t.Errorf("ReplicaHealth\n got %+v\nwant %+v", got, want)
	}
}
