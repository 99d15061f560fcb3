package taskevents

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestHistory drives the GCS's history from testdata/history.txt:
//
//	new max=N                      a fresh history of N attempts
//	events                         one batch; each input line one event:
//	  task=t [attempt=0] [job=j] status=S[+S2...] t=T[+T2...] [name=f] [type=T] [actor=a]
//	  [parent=p] [node=n worker=w pid=P] [err=E] [msg=M]
//	dropped job=j n=N              a batch that only reports drops
//	job-finished job=j t=T / node-died node=n t=T / worker-died worker=w t=T
//	list [limit=N]                 input lines: filters "key = value" / "key != value"
//	show                           every attempt, oldest first
func TestHistory(t *testing.T) {
	var h *History
	datadriven.RunTest(t, "testdata/history.txt", func(t *testing.T, d *datadriven.TestData) string {
		at := func() int64 { n, _ := strconv.ParseInt(d.Val("t", "0"), 10, 64); return n }
		switch d.Cmd {
		case "new":
			n, _ := strconv.Atoi(d.Val("max", "0"))
			h = NewHistory(n)
			return "ok"
		case "events":
			batch := &rpcpb.TaskEventBatch{}
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				batch.Events = append(batch.Events, parseEvent(t, batch, line))
			}
			h.Add(batch)
			return fmt.Sprintf("%d attempts", h.Len())
		case "dropped":
			n, _ := strconv.ParseInt(d.Val("n", "0"), 10, 64)
			h.Add(&rpcpb.TaskEventBatch{Dropped: map[string]int64{d.Val("job", ""): n}})
			return fmt.Sprintf("dropped %d (job %s: %d)", h.Dropped(""), d.Val("job", ""), h.Dropped(d.Val("job", "")))
		case "job-finished":
			h.JobFinished(d.Val("job", ""), at())
			return show(h)
		case "node-died":
			h.NodeDied(d.Val("node", ""), at())
			return show(h)
		case "worker-died":
			h.WorkerDied(d.Val("worker", ""), "exit status 1", at())
			return show(h)
		case "list":
			n, _ := strconv.Atoi(d.Val("limit", "0"))
			req := &rpcpb.ListTasksRequest{Limit: int32(n)}
			for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
				if f := strings.Fields(line); len(f) == 3 {
					req.Filters = append(req.Filters, &rpcpb.TaskFilter{Key: f[0], Predicate: f[1], Value: f[2]})
				}
			}
			l, err := h.List(req)
			if err != nil {
				return "error: " + err.Error()
			}
			var b strings.Builder
			fmt.Fprintf(&b, "total=%d filtered=%d dropped=%d\n", l.Total, l.NumFiltered, l.Dropped)
			for _, st := range l.Tasks {
				b.WriteString(format(st) + "\n")
			}
			return b.String()
		case "show":
			return show(h)
		}
		d.Fatalf(t, "unknown command")
		return ""
	})
}

// parseEvent reads one event line into a batch entry (its description and
// place appended to the batch's tables, as a process's buffer sends them).
func parseEvent(t *testing.T, batch *rpcpb.TaskEventBatch, line string) *rpcpb.TaskEvent {
	e := &rpcpb.TaskEvent{}
	var info *rpcpb.TaskInfo
	var where *rpcpb.TaskWhere
	for _, kv := range strings.Fields(line) {
		k, v, _ := strings.Cut(kv, "=")
		n, _ := strconv.ParseInt(v, 10, 64)
		if info == nil && (k == "name" || k == "type" || k == "actor" || k == "parent") {
			info = &rpcpb.TaskInfo{}
		}
		if where == nil && (k == "node" || k == "worker" || k == "pid") {
			where = &rpcpb.TaskWhere{}
		}
		switch k {
		case "task":
			e.TaskId = v
		case "attempt":
			e.Attempt = int32(n)
		case "job":
			e.JobId = v
		case "status":
			for _, st := range strings.Split(v, "+") {
				s, ok := rpcpb.TaskEvent_Status_value[st]
				if !ok {
					t.Fatalf("unknown status %q", st)
				}
				e.Statuses = append(e.Statuses, rpcpb.TaskEvent_Status(s))
			}
		case "t":
			for _, x := range strings.Split(v, "+") {
				n, _ := strconv.ParseInt(x, 10, 64)
				e.TimesNs = append(e.TimesNs, n)
			}
		case "name":
			info.Name = v
		case "type":
			info.Type = rpcpb.TaskInfo_Type(rpcpb.TaskInfo_Type_value[v])
		case "actor":
			info.ActorId = v
		case "parent":
			info.ParentTaskId = v
		case "node":
			where.NodeId = v
		case "worker":
			where.WorkerId = v
		case "pid":
			where.WorkerPid = int32(n)
		case "err":
			e.ErrorType = v
		case "msg":
			e.ErrorMessage = v
		default:
			t.Fatalf("unknown event field %q", k)
		}
	}
	if info != nil {
		batch.Infos = append(batch.Infos, info)
		e.Info = int32(len(batch.Infos))
	}
	if where != nil {
		batch.Wheres = append(batch.Wheres, where)
		e.Where = int32(len(batch.Wheres))
	}
	return e
}

func show(h *History) string {
	var b strings.Builder
	for s := h.all.head; s != 0; s = h.at(s).allNext {
		b.WriteString(format(h.toProto(s)) + "\n")
	}
	if b.Len() == 0 {
		return "empty"
	}
	return b.String()
}

func format(st *rpcpb.TaskState) string {
	s := fmt.Sprintf("%s/%d job=%s %s", st.TaskId, st.Attempt, st.JobId, st.State)
	if st.Info != nil {
		s += fmt.Sprintf(" name=%s type=%s", st.Info.Name, st.Info.Type)
	}
	if st.NodeId != "" {
		s += fmt.Sprintf(" node=%s worker=%s pid=%d", st.NodeId, st.WorkerId, st.WorkerPid)
	}
	if st.ErrorType != "" {
		s += fmt.Sprintf(" err=%s(%s)", st.ErrorType, st.ErrorMessage)
	}
	var times []string
	for s := rpcpb.TaskEvent_PENDING_ARGS_AVAIL; s <= rpcpb.TaskEvent_FAILED; s++ {
		if t, ok := st.StatusTimesNs[int32(s)]; ok {
			times = append(times, fmt.Sprintf("%s@%d", s, t))
		}
	}
	return s + " [" + strings.Join(times, " ") + "]"
}

// BenchmarkHistoryAddReport is what the GCS does for each record of a
// report from a busy owner, once its history is full: decode the record
// (the batch arrives as protobuf), merge it as a new attempt and evict the
// oldest. ns/op is per record.
func BenchmarkHistoryAddReport(b *testing.B) {
	const batchSize = 10_000
	h := NewHistory(0)
	info := &rpcpb.TaskInfo{Name: "pkg.square", RequiredResources: map[string]float64{"CPU": 1}}
	where := &rpcpb.TaskWhere{NodeId: "n1", WorkerId: "w1", WorkerPid: 7}
	seq := 0
	report := func() []byte {
		buf := NewBuffer(0, batchSize)
		for range batchSize {
			var hd Handle
			k := Key{TaskID: fmt.Sprintf("%012x%016x", 0xb3fdb24ce4b7, seq)}
			seq++
			buf.AddAt(&hd, Event{Key: k, JobID: "01000000", Status: PendingNodeAssignment, TimeNs: 1, Info: info})
			buf.AddAt(&hd, Event{Key: k, JobID: "01000000", Status: SubmittedToWorker, TimeNs: 2})
			buf.AddAt(&hd, Event{Key: k, JobID: "01000000", Status: Running, TimeNs: 3, Where: where})
			buf.AddAt(&hd, Event{Key: k, JobID: "01000000", Status: Finished, TimeNs: 4, Where: where})
		}
		raw, err := proto.Marshal(buf.Take())
		if err != nil {
			b.Fatal(err)
		}
		return raw
	}
	var reports [][]byte
	// Four times the history's 100,000: a report's attempts are long
	// evicted when it comes round again, so each record is a new attempt.
	for range 40 {
		reports = append(reports, report())
	}
	add := func(raw []byte) {
		var batch rpcpb.TaskEventBatch
		if err := proto.Unmarshal(raw, &batch); err != nil {
			b.Fatal(err)
		}
		h.Add(&batch)
	}
	for _, r := range reports[:10] {
		add(r)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%batchSize == 0 {
			add(reports[(10+i/batchSize)%len(reports)])
		}
	}
}
