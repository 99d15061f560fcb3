package controller

import (
	"context"
	"encoding/json"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// publishedTable reads the routing table from the GCS.
func publishedTable(t *testing.T, c *Controller) routes.Table {
	t.Helper()
	v, err := c.cfg.GCS.KvGet(context.Background(), &rpcpb.KvRequest{Namespace: routes.Namespace, Key: routes.TableKey})
	if err != nil || !v.Found {
		t.Fatalf("no routing table published (%v)", err)
	}
	var tb routes.Table
	if err := json.Unmarshal(v.Value, &tb); err != nil {
		t.Fatal(err)
	}
	return tb
}

// The routing table carries the config's proxy_location and http_options
// the proxies apply; a config that changes only them is published again,
// and a resumed controller does not rewrite the same table.
func TestPublishedTableCarriesTheProxyOptions(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	c := tc.c
	publish := func() {
		c.mu.Lock()
		tb := c.tableLocked()
		c.mu.Unlock()
		c.publish(tb)
	}
	if err := tc.apply(t, `{"proxy_location":"HeadOnly","http_options":{"root_path":"/api","request_timeout_s":2.5},"applications":[{"name":"a","import_path":"hello"}]}`); err != nil {
		t.Fatal(err)
	}
	publish()
	got := publishedTable(t, c)
	if want := (routes.HTTPConfig{Location: "HeadOnly", RootPath: "/api", RequestTimeoutS: 2.5}); got.HTTP != want {
		t.Fatalf("published %+v, want %+v", got.HTTP, want)
	}
	v1 := got.Version
	if err := tc.apply(t, `{"applications":[{"name":"a","import_path":"hello"}]}`); err != nil {
		t.Fatal(err)
	}
	publish()
	got = publishedTable(t, c)
	if got.HTTP != (routes.HTTPConfig{}) || got.Version <= v1 {
		t.Fatalf("after a config without them: %+v version %d (was %d), want the defaults in a new version", got.HTTP, got.Version, v1)
	}
	// A resumed controller reads what was published: the same table is
	// not written again.
	c.mu.Lock()
	c.published = nil
	c.mu.Unlock()
	c.loadPublished(context.Background())
	v2 := got.Version
	publish()
	if got = publishedTable(t, c); got.Version != v2 {
		t.Fatalf("the same table was published again after loadPublished: version %d, was %d", got.Version, v2)
	}
}
