package taskevents

import rpcpb "github.com/goray-dev/goray/runtime/proto"

// StateCount is how many attempts of tasks named Name are in State (Ray's
// ray_tasks series): Retry says whether they are retries (attempt > 0).
type StateCount struct {
	Name, State string
	Retry       bool
}

// Counts tallies the held attempts by name, state and retry, for the
// metrics a scrape reads. It walks every attempt (at most the history's
// bound), so it runs per scrape, never per event; see BenchmarkCounts.
func (h *History) Counts() map[StateCount]int {
	// Tallied by the TaskInfo's pointer first (attempts reported in one
	// batch share it): reading each attempt's name would touch two more
	// cache lines per attempt, which is most of the walk's time.
	type key struct {
		info  *rpcpb.TaskInfo
		state Status
		retry bool
	}
	byInfo := map[key]int{}
	for k, a := range h.attempts {
		byInfo[key{a.info, a.state(), k.attempt > 0}]++
	}
	out := map[StateCount]int{}
	for k, n := range byInfo {
		out[StateCount{Name: k.info.GetName(), State: k.state.String(), Retry: k.retry}] += n
	}
	return out
}
