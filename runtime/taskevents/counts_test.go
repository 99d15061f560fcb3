package taskevents

import (
	"strconv"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestCounts(t *testing.T) {
	h := NewHistory(0)
	// Attempts are made as Add makes them, without going through a batch:
	// the counts depend on the history, not on the wire format.
	add := func(task string, attempt int32, name string, st Status) {
		s := h.get(task, attempt, "01000000")
		a := h.at(s)
		a.info = h.internInfo(&rpcpb.TaskInfo{Name: name})
		a.times[st] = 1
		h.markDone(s)
	}
	add("a", 0, "square", rpcpb.TaskEvent_RUNNING)
	add("b", 0, "square", rpcpb.TaskEvent_FINISHED)
	add("c", 0, "square", rpcpb.TaskEvent_FINISHED)
	add("d", 0, "flaky", rpcpb.TaskEvent_FAILED)
	add("d", 1, "flaky", rpcpb.TaskEvent_RUNNING)
	got := h.Counts()
	want := map[StateCount]int{
		{Name: "square", State: "RUNNING"}:             1,
		{Name: "square", State: "FINISHED"}:            2,
		{Name: "flaky", State: "FAILED"}:               1,
		{Name: "flaky", State: "RUNNING", Retry: true}: 1,
	}
	if len(got) != len(want) {
		t.Fatalf("counts %v, want %v", got, want)
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%+v: %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
}

// BenchmarkCounts is a scrape's walk of a full history (100,000 attempts
// of 20 functions, reported in batches of 1,000 that share each function's
// TaskInfo as a reporter's batch does), during which the GCS's task
// history lock is held.
func BenchmarkCounts(b *testing.B) {
	h := NewHistory(0)
	var infos []*rpcpb.TaskInfo
	for i := 0; i < DefaultHistorySize; i++ {
		if i%1000 == 0 {
			infos = nil
			for f := 0; f < 20; f++ {
				infos = append(infos, &rpcpb.TaskInfo{Name: "f" + strconv.Itoa(f)})
			}
		}
		s := h.get(strconv.Itoa(i), 0, "01000000")
		a := h.at(s)
		a.info = h.internInfo(infos[i%20])
		a.times[rpcpb.TaskEvent_FINISHED] = 1
		h.markDone(s)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(h.Counts()) != 20 {
			b.Fatal("counts")
		}
	}
}
