package taskevents

import rpcpb "github.com/goray-dev/goray/runtime/proto"

// Get is one attempt as the history holds it (the GCS looks up the attempts
// a batch touched, to record the failures it was the first to report).
func (h *History) Get(task string, attempt int32) (*rpcpb.TaskState, bool) {
	a, ok := h.attempts[attemptKey{task, attempt}]
	if !ok {
		return nil, false
	}
	return a.toProto(), true
}
