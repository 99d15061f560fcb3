package taskevents

import (
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Add names the attempts a batch was the first to fail, once.
func TestAddReturnsNewlyFailedAttempts(t *testing.T) {
	h := NewHistory(0)
	b := NewBuffer(0, 0)
	fail := Event{Key: Key{TaskID: "t1"}, JobID: "j", Status: Failed, TimeNs: 5, ErrType: ErrWorkerDied, ErrMsg: "exit 1",
		Info: &rpcpb.TaskInfo{Name: "boom"}}
	b.Add(Event{Key: Key{TaskID: "t0"}, JobID: "j", Status: Finished, TimeNs: 4})
	b.Add(fail)
	failed := h.Add(b.Take())
	if len(failed) != 1 || failed[0].TaskId != "t1" || failed[0].ErrorType != ErrWorkerDied || failed[0].Info.GetName() != "boom" {
		t.Fatalf("first batch: %v", failed)
	}
	// The owner's report of the same failure again (a requeued batch) is no news.
	b.Add(fail)
	if failed := h.Add(b.Take()); len(failed) != 0 {
		t.Fatalf("a repeated failure was reported again: %v", failed)
	}
}
