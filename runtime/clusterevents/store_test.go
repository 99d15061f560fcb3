package clusterevents

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestStore drives the history from testdata/store.txt:
//
//	new max=N                      a fresh store of N events; the clock at 0 s
//	clock t=S                      the clock moves to S seconds
//	add SEVERITY SOURCE [k=v ...]  input: the message; prints the stored event
//	check SEVERITY SOURCE [k=v]    input: the message; what Check says of it
//	list [limit=N]                 input lines: filters "key = value" / "key != value"
func TestStore(t *testing.T) {
	var s *Store
	var clock time.Time
	datadriven.RunTest(t, "testdata/store.txt", func(t *testing.T, d *datadriven.TestData) string {
		event := func() (string, string, map[string]string) {
			if len(d.Args) < 2 {
				d.Fatalf(t, "%s needs SEVERITY SOURCE", d.Cmd)
			}
			fields := map[string]string{}
			for _, a := range d.Args[2:] {
				fields[a.Key] = expand(strings.Join(a.Vals, ","))
			}
			return d.Args[0].Key, d.Args[1].Key, fields
		}
		switch d.Cmd {
		case "new":
			n, _ := strconv.Atoi(d.Val("max", "0"))
			clock = time.Unix(0, 0)
			s = NewStore(n, func() time.Time { return clock }, "e")
			return "ok"
		case "clock":
			n, _ := strconv.ParseFloat(d.Val("t", "0"), 64)
			clock = time.Unix(0, int64(n*1e9))
			return "ok"
		case "add":
			sev, src, fields := event()
			return format(s.Add(sev, src, expand(strings.TrimSpace(d.Input)), fields)) +
				fmt.Sprintf("\nheld=%d dropped=%d", s.Len(), s.Dropped())
		case "check":
			sev, src, fields := event()
			if err := Check(&rpcpb.ClusterEvent{Severity: sev, SourceType: src, Message: expand(strings.TrimSpace(d.Input)), CustomFields: fields}); err != nil {
				return "refused: " + err.Error()
			}
			return "ok"
		case "list":
			n, _ := strconv.Atoi(d.Val("limit", "0"))
			req := &rpcpb.ListClusterEventsRequest{Limit: int32(n)}
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				if f := strings.Fields(line); len(f) == 3 {
					req.Filters = append(req.Filters, &rpcpb.TaskFilter{Key: f[0], Predicate: f[1], Value: f[2]})
				}
			}
			l, err := s.List(req)
			if err != nil {
				return "error: " + err.Error()
			}
			var b strings.Builder
			fmt.Fprintf(&b, "total=%d filtered=%d dropped=%d", l.Total, l.NumFiltered, l.Dropped)
			for _, e := range l.Events {
				b.WriteString("\n" + format(e))
			}
			return b.String()
		}
		d.Fatalf(t, "unknown command")
		return ""
	})
}

// expand turns "x*N" into N x's, for messages over the bounds.
func expand(msg string) string {
	if c, n, ok := strings.Cut(msg, "*"); ok && len(c) == 1 {
		if k, err := strconv.Atoi(n); err == nil {
			return strings.Repeat(c, k)
		}
	}
	return msg
}

func format(e *rpcpb.ClusterEvent) string {
	msg := e.Message
	if len(msg) > 40 {
		msg = fmt.Sprintf("%s…(%d bytes)", msg[:10], len(msg))
	}
	s := fmt.Sprintf("%s %s %s t=%dms %q", e.EventId, e.Severity, e.SourceType, e.TimestampMs, msg)
	keys := make([]string, 0, len(e.CustomFields))
	for k := range e.CustomFields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := e.CustomFields[k]
		if len(v) > 20 {
			v = fmt.Sprintf("%s…(%d bytes)", v[:5], len(v))
		}
		s += " " + k + "=" + v
	}
	return s
}
