package taskevents

// StateCount is how many attempts of tasks named Name are in State (Ray's
// ray_tasks series): Retry says whether they are retries (attempt > 0).
type StateCount struct {
	Name, State string
	Retry       bool
}

// Counts tallies the held attempts by name, state and retry, for the
// metrics a scrape reads. It walks every attempt (at most the history's
// bound, 100,000 by default: a few milliseconds), so it runs per scrape,
// never per event.
func (h *History) Counts() map[StateCount]int {
	out := map[StateCount]int{}
	for k, a := range h.attempts {
		out[StateCount{Name: a.info.GetName(), State: a.state().String(), Retry: k.attempt > 0}]++
	}
	return out
}
