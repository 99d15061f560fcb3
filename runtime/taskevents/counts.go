package taskevents

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
	// Tallied by the description's number first: reading each attempt's
	// name would touch more memory per attempt, which is most of the
	// walk's time.
	type key struct {
		info  uint32
		state Status
		retry bool
	}
	byInfo := map[key]int{}
	h.each(func(a *attempt) { byInfo[key{a.info, a.state(), a.attempt > 0}]++ })
	out := map[StateCount]int{}
	for k, n := range byInfo {
		out[StateCount{Name: h.infoPBs[k.info].GetName(), State: k.state.String(), Retry: k.retry}] += n
	}
	return out
}
