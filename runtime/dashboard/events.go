package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// ClusterEventsPath is Ray's list of cluster events.
const ClusterEventsPath = "/api/v0/cluster_events"

// clusterEventSchema is Ray's ClusterEventState.
var clusterEventSchema = newSchema(
	[]string{"severity", "time", "source_type", "message", "event_id"},
	[]string{"custom_fields"},
	"severity", "source_type", "event_id")

// mountEvents adds GET /api/v0/cluster_events with Ray's list parameters;
// the filters run in the GCS, which holds the events.
func (s *Server) mountEvents() {
	s.Mux.HandleFunc("GET "+ClusterEventsPath, func(w http.ResponseWriter, r *http.Request) {
		o, err := ParseListOptions(r.URL.Query())
		if err == nil {
			err = clusterEventSchema.check(o.Filters)
		}
		if err != nil {
			stateError(w, badQuery{err})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), stateTimeout(r))
		defer cancel()
		res, err := s.listClusterEvents(ctx, o)
		if err != nil {
			stateError(w, err)
			return
		}
		writeList(w, res)
	})
}

func (s *Server) listClusterEvents(ctx context.Context, o ListOptions) (ListResult, error) {
	req := &rpcpb.ListClusterEventsRequest{Limit: int32(o.Limit)}
	for _, f := range o.Filters {
		req.Filters = append(req.Filters, &rpcpb.TaskFilter{Key: f.Key, Predicate: f.Predicate, Value: f.Value})
	}
	l, err := s.gcs.ListClusterEvents(ctx, req)
	if err != nil {
		return ListResult{}, err
	}
	res := ListResult{Total: int(l.Total), NumFiltered: int(l.NumFiltered)}
	for _, e := range l.Events {
		res.Rows = append(res.Rows, clusterEventSchema.project(ClusterEventRow(e), o.Detail))
	}
	if l.Dropped > 0 {
		res.Warnings = append(res.Warnings, "The GCS evicted the "+strconv.FormatInt(l.Dropped, 10)+
			" oldest cluster events to stay within its bound (RAY_cluster_events_max_num).")
	}
	return res, nil
}

// ClusterEventRow is an event in Ray's ClusterEventState fields: time as
// Ray writes it (UTC, to the second); the event's own fields, and its time
// in milliseconds (timestamp_ms, for ordering within a second), in
// custom_fields.
func ClusterEventRow(e *rpcpb.ClusterEvent) Row {
	fields := make(map[string]any, len(e.CustomFields)+1)
	for k, v := range e.CustomFields {
		fields[k] = v
	}
	fields["timestamp_ms"] = e.TimestampMs
	return Row{"severity": e.Severity, "time": time.UnixMilli(e.TimestampMs).UTC().Format(time.DateTime),
		"source_type": e.SourceType, "message": e.Message, "event_id": e.EventId, "custom_fields": fields}
}
