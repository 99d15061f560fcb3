package controller

import (
	"encoding/json"
	"io"
	"log"
	"testing"
)

// FuzzCheckpointRestore: a checkpoint read back from the GCS KV (where any
// caller holding the cluster's token can write) either fails to decode —
// the controller then starts without applications — or restores without a
// panic into a controller whose own checkpoint names the same
// applications, and whose routing table can be built.
func FuzzCheckpointRestore(f *testing.F) {
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":3,"apps":[{"key":"a","name":"a","status":"RUNNING","deployments":[{"name":"D","target":2,` +
		`"replicas":[{"id":"r1","actor_id":"x","state":"RUNNING","key":"k"},{"id":"r2","state":"STOPPING"}]}]}]}`))
	f.Add([]byte(`{"deployed":{"applications":[{"name":"a","import_path":"demos.hello","route_prefix":"/"}]},"apps":[{"key":"a#old","name":"a","deleting":true,"deployments":[{"name":"D","config":{"num_replicas":1},"replicas":[]}]}]}`))
	f.Add([]byte(`{"apps":[{"key":"a","deployments":[{"name":"D"},{"name":"D"}]},{"key":"a"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var ck checkpoint
		if json.Unmarshal(data, &ck) != nil {
			return
		}
		c := &Controller{log: log.New(io.Discard, "", 0), apps: map[string]*app{}, jobs: map[string]*job{}}
		c.restoreLocked(ck)
		_ = c.tableLocked()
		again, _ := c.checkpointLocked()
		want := map[string]bool{} // a key named twice is one application
		for _, a := range ck.Apps {
			want[a.Key] = true
		}
		for _, a := range again.Apps {
			if !want[a.Key] {
				t.Fatalf("restored an application %q the checkpoint does not have", a.Key)
			}
		}
		if len(again.Apps) != len(want) {
			t.Fatalf("restored %d applications, the checkpoint has %d keys", len(again.Apps), len(want))
		}
	})
}
