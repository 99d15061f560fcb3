package jobs

import (
	"context"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestStatusEvents: a submission's statuses become JOBS cluster events in
// the GCS — submitted, running, and how it ended (an ERROR for a failure,
// with its error type and exit code).
func TestStatusEvents(t *testing.T) {
	e := newTestEnv(t)
	ok := e.submit(t, api.SubmitRequest{Entrypoint: "true"})
	e.waitTerminal(t, ok)
	bad := e.submit(t, api.SubmitRequest{Entrypoint: "exit 3"})
	e.waitTerminal(t, bad)
	l, err := e.big.ListClusterEvents(context.Background(), &rpcpb.ListClusterEventsRequest{
		Filters: []*rpcpb.TaskFilter{{Key: "source_type", Predicate: "=", Value: "JOBS"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range l.Events {
		line := ev.Severity + " " + ev.Message
		if ev.CustomFields["submission_id"] == bad && ev.CustomFields["status"] == "FAILED" {
			line += " exit=" + ev.CustomFields["driver_exit_code"]
		}
		got = append(got, line)
	}
	want := []string{
		"INFO Job " + ok + ` submitted: "true"`,
		"INFO Job " + ok + " is RUNNING: Job is currently running.",
		"INFO Job " + ok + " is SUCCEEDED: Job finished successfully.",
		"INFO Job " + bad + ` submitted: "exit 3"`,
		"INFO Job " + bad + " is RUNNING: Job is currently running.",
	}
	if len(got) != 6 || strings.Join(got[:5], "\n") != strings.Join(want, "\n") ||
		!strings.HasPrefix(got[5], "ERROR Job "+bad+" is FAILED: ") || !strings.HasSuffix(got[5], " exit=3") {
		t.Fatalf("events:\n%s", strings.Join(got, "\n"))
	}
}
