package taskevents

import (
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestGet(t *testing.T) {
	h := NewHistory(2)
	if _, ok := h.Get("t1", 0); ok {
		t.Fatal("an empty history found t1")
	}
	h.attempts[attemptKey{"t1", 1}] = &attempt{key: attemptKey{"t1", 1}, jobID: "j", errType: ErrWorkerDied}
	h.attempts[attemptKey{"t1", 1}].times[Failed] = 5
	st, ok := h.Get("t1", 1)
	if !ok || st.State != rpcpb.TaskEvent_FAILED || st.JobId != "j" || st.ErrorType != ErrWorkerDied {
		t.Fatalf("t1/1: %v %v", st, ok)
	}
}
