package controller

import (
	"context"
	"io"
	"log"
	"strings"
	"testing"
	"unicode/utf8"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// TestServeClusterEvents: an application's status changes and its removal
// reach the GCS as SERVE events (an unchanged status is none); a long
// message is cut to the bound between characters.
func TestServeClusterEvents(t *testing.T) {
	gc := testGCS(t)
	c := &Controller{cfg: Config{GCS: gc}, log: log.New(io.Discard, "", 0)}
	a := &app{name: "shop"}
	set := func(status, msg string) {
		prev := a.status
		a.status, a.message = status, msg
		c.mu.Lock()
		c.noteAppStatusLocked(a, prev)
		c.mu.Unlock()
	}
	set(schema.AppDeploying, "waiting")
	set(schema.AppDeploying, "still waiting")
	set(schema.AppRunning, "")
	set(schema.AppUnhealthy, "a replica died")
	set(schema.AppDeployFailed, strings.Repeat("é", 3000))
	c.mu.Lock()
	c.noteAppDeletedLocked("shop")
	c.mu.Unlock()
	c.sendEvents(context.Background())
	l, err := gc.ListClusterEvents(context.Background(), &rpcpb.ListClusterEventsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range l.Events {
		if e.SourceType != "SERVE" || e.CustomFields["application"] != "shop" || !utf8.ValidString(e.Message) || len(e.Message) > 4096 {
			t.Errorf("event %v", e)
		}
		msg := e.Message
		if len(msg) > 50 {
			msg = strings.ToValidUTF8(msg[:40], "")
		}
		got = append(got, e.Severity+" "+msg)
	}
	want := []string{
		"INFO Application 'shop' is DEPLOYING: waiting",
		"INFO Application 'shop' is RUNNING",
		"WARNING Application 'shop' is UNHEALTHY: a replica died",
		"ERROR Application 'shop' is DEPLOY_FAILED: \xc3\xa9",
		"INFO Application 'shop' was deleted",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.events) != 0 {
		t.Errorf("%d events left after the GCS took them", len(c.events))
	}
}
