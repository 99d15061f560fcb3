package jobs

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/clusterevents"
	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// eventMessageBytes bounds the message part of an event (a job's message
// may hold an error's whole text; the job's record keeps all of it).
const eventMessageBytes = 1 << 10

// statusEvent reports a submission's new status as a cluster event (source
// JOBS, like Ray's job manager): submitted, running, and how it ended. A
// GCS that does not take it costs only the event: the record is what counts.
func (m *Manager) statusEvent(r *record) {
	sev := clusterevents.Info
	switch r.Status {
	case api.StatusFailed:
		sev = clusterevents.Error
	case api.StatusStopped:
		sev = clusterevents.Warning
	}
	var msg string
	if r.Status == api.StatusPending {
		msg = fmt.Sprintf("Job %s submitted: %s", r.ID(), api.Clip(r.Entrypoint, eventMessageBytes/2))
	} else {
		msg = fmt.Sprintf("Job %s is %s", r.ID(), r.Status)
		if r.Message != nil && *r.Message != "" {
			msg += ": " + *r.Message
		}
	}
	if len(msg) > eventMessageBytes {
		msg = strings.ToValidUTF8(msg[:eventMessageBytes], "") // a character cut in two goes (protobuf strings are UTF-8)
	}
	fields := map[string]string{"submission_id": r.ID(), "status": string(r.Status)}
	if r.ErrorType != nil {
		fields["error_type"] = *r.ErrorType
	}
	if r.DriverExitCode != nil {
		fields["driver_exit_code"] = fmt.Sprint(*r.DriverExitCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := m.cfg.GCS.AddClusterEvents(ctx, &rpcpb.ClusterEventBatch{Events: []*rpcpb.ClusterEvent{
		{Severity: sev, SourceType: clusterevents.SourceJobs, Message: msg, CustomFields: fields}}}); err != nil {
		m.log.Printf("job %s: cluster event not recorded: %v", logID(r.ID()), err)
	}
}
