// Package clusterevents is the GCS's bounded history of cluster events, in
// the shape of Ray's ClusterEventState: a severity, a source type, a message
// and custom fields naming what the event is about. It is pure: the clock and
// the id prefix are given, and the GCS serialises calls.
package clusterevents

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Severities, as Ray names them.
const (
	Info    = "INFO"
	Warning = "WARNING"
	Error   = "ERROR"
	Fatal   = "FATAL"
)

// Source types, Ray's names for who saw the event.
const (
	SourceGCS        = "GCS"
	SourceRaylet     = "RAYLET"
	SourceCoreWorker = "CORE_WORKER"
	SourceJobs       = "JOBS"
	SourceAutoscaler = "AUTOSCALER"
	SourceServe      = "SERVE"
)

var (
	severities = map[string]bool{Info: true, Warning: true, Error: true, Fatal: true}
	sources    = map[string]bool{SourceGCS: true, SourceRaylet: true, SourceCoreWorker: true, SourceJobs: true,
		SourceAutoscaler: true, SourceServe: true, "COMMON": true, "CLUSTER_LIFECYCLE": true}
)

// Bounds on what one event may hold: a report from outside (the job manager)
// is refused beyond them; the GCS's own messages are cut to fit.
const (
	// DefaultMax is how many events the GCS keeps (Ray's dashboard keeps
	// 10,000 per job).
	DefaultMax      = 10_000
	MaxMessageBytes = 4 << 10
	MaxFields       = 16
	MaxFieldKey     = 64
	MaxFieldValue   = 1 << 10
	// MaxBatch is the most events one report may carry.
	MaxBatch = 1_000
	// MaxLimit caps one answer (Ray's RAY_MAX_LIMIT_FROM_API_SERVER).
	MaxLimit = 10_000
	// DefaultLimit is the answer's size when the request names none.
	DefaultLimit = 100
)

// Store is the bounded history: a ring of the newest events.
type Store struct {
	max     int
	now     func() time.Time
	prefix  string
	seq     uint64
	ring    []*rpcpb.ClusterEvent // oldest at head
	head    int
	dropped int64
}

// NewStore keeps at most max events (DefaultMax if max <= 0). Event ids are
// prefix followed by a sequence number in 8 hex digits and more, so they sort
// in the order the events were stored; a GCS gives its own prefix so that ids
// of a restarted GCS are not those of the last one.
func NewStore(max int, now func() time.Time, prefix string) *Store {
	if max <= 0 {
		max = DefaultMax
	}
	return &Store{max: max, now: now, prefix: prefix}
}

// Len is the number of events held.
func (s *Store) Len() int { return len(s.ring) }

// Dropped is how many events the bound evicted.
func (s *Store) Dropped() int64 { return s.dropped }

// Check says why an event reported from outside the GCS is not storable.
func Check(e *rpcpb.ClusterEvent) error {
	switch {
	case !severities[e.GetSeverity()]:
		return fmt.Errorf("severity %q is not one of INFO, WARNING, ERROR, FATAL", clip(e.GetSeverity(), 32))
	case !sources[e.GetSourceType()]:
		return fmt.Errorf("source_type %q is not one of %s", clip(e.GetSourceType(), 32), strings.Join(sortedKeys(sources), ", "))
	case e.GetMessage() == "":
		return fmt.Errorf("an event needs a message")
	case len(e.GetMessage()) > MaxMessageBytes:
		return fmt.Errorf("message of %d bytes; at most %d", len(e.GetMessage()), MaxMessageBytes)
	case len(e.GetCustomFields()) > MaxFields:
		return fmt.Errorf("%d custom fields; at most %d", len(e.GetCustomFields()), MaxFields)
	}
	for k, v := range e.GetCustomFields() {
		if k == "" || len(k) > MaxFieldKey || len(v) > MaxFieldValue {
			return fmt.Errorf("custom field %q: keys are 1 to %d bytes, values at most %d", clip(k, 32), MaxFieldKey, MaxFieldValue)
		}
	}
	return nil
}

// Add stores an event with a new id and the store's time, evicting the
// oldest beyond the bound, and returns what was stored. Fields beyond the
// bounds are cut (the GCS's own events name ids and causes of any length).
func (s *Store) Add(severity, source, message string, fields map[string]string) *rpcpb.ClusterEvent {
	s.seq++
	e := &rpcpb.ClusterEvent{EventId: fmt.Sprintf("%s%08x", s.prefix, s.seq), Severity: severity, SourceType: source,
		Message: clip(message, MaxMessageBytes), TimestampMs: s.now().UnixMilli()}
	if len(fields) > 0 {
		e.CustomFields = make(map[string]string, len(fields))
		for _, k := range sortedKeys(fields) {
			if len(e.CustomFields) == MaxFields {
				break
			}
			if k != "" && len(k) <= MaxFieldKey && utf8.ValidString(k) {
				e.CustomFields[k] = clip(fields[k], MaxFieldValue)
			}
		}
	}
	if len(s.ring) < s.max {
		s.ring = append(s.ring, e)
	} else {
		s.ring[s.head] = e
		s.head = (s.head + 1) % s.max
		s.dropped++
	}
	return e
}

// at is the i-th oldest event held.
func (s *Store) at(i int) *rpcpb.ClusterEvent { return s.ring[(s.head+i)%len(s.ring)] }

// filterColumns are ClusterEventState's filterable columns.
var filterColumns = map[string]func(e *rpcpb.ClusterEvent) string{
	"severity":    func(e *rpcpb.ClusterEvent) string { return e.Severity },
	"source_type": func(e *rpcpb.ClusterEvent) string { return e.SourceType },
	"event_id":    func(e *rpcpb.ClusterEvent) string { return e.EventId },
}

// List answers Ray's list query: filters "=" / "!=" on the filterable
// columns, values without case; the newest limit matching events, oldest
// first (Ray sorts cluster events by time).
func (s *Store) List(in *rpcpb.ListClusterEventsRequest) (*rpcpb.ClusterEventList, error) {
	type pred struct {
		get   func(*rpcpb.ClusterEvent) string
		equal bool
		value string
	}
	preds := make([]pred, 0, len(in.GetFilters()))
	for _, f := range in.GetFilters() {
		get, ok := filterColumns[f.GetKey()]
		if !ok {
			return nil, fmt.Errorf("given filter column %q is not supported; supported filter columns: %s", clip(f.GetKey(), 64), strings.Join(sortedKeys(filterColumns), ", "))
		}
		if f.GetPredicate() != "=" && f.GetPredicate() != "!=" {
			return nil, fmt.Errorf("unsupported filter predicate %q is given; available predicates: =, !=", clip(f.GetPredicate(), 16))
		}
		preds = append(preds, pred{get, f.GetPredicate() == "=", strings.ToLower(f.GetValue())})
	}
	limit := int(in.GetLimit())
	switch {
	case limit <= 0:
		limit = DefaultLimit
	case limit > MaxLimit:
		limit = MaxLimit
	}
	out := &rpcpb.ClusterEventList{Total: int64(len(s.ring)), Dropped: s.dropped}
	for i := len(s.ring) - 1; i >= 0; i-- {
		e := s.at(i)
		match := true
		for _, p := range preds {
			if (strings.ToLower(p.get(e)) == p.value) != p.equal {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		out.NumFiltered++
		if len(out.Events) < limit {
			out.Events = append(out.Events, e)
		}
	}
	for i, j := 0, len(out.Events)-1; i < j; i, j = i+1, j-1 {
		out.Events[i], out.Events[j] = out.Events[j], out.Events[i]
	}
	return out, nil
}

// clip makes s valid UTF-8 (a protobuf string must be) of at most n bytes,
// cut between characters.
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	const more = "…"
	cut := n - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
