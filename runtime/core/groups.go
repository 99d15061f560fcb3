package core

import (
	"fmt"
	"maps"
	"slices"
	"sync"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Actor concurrency groups (Ray's concurrency_groups): an actor may name
// groups of calls, each running up to its own number of calls at once,
// besides the default group (max_concurrency). A call names its group. A
// group's calls from one caller start in the order they were sent; a
// full group never holds up the calls of another (each group has its own
// queue), so a long "io" call does not stop a quick default one.

// actorGroups are an actor's semaphores: the default group's and one per
// named group, shared by all its callers' streams.
type actorGroups struct {
	def   chan struct{}
	named map[string]chan struct{}
}

func newActorGroups(maxConcurrency int, groups map[string]int32) *actorGroups {
	g := &actorGroups{def: make(chan struct{}, max(1, maxConcurrency))}
	if len(groups) > 0 {
		g.named = make(map[string]chan struct{}, len(groups))
		for name, n := range groups {
			g.named[name] = make(chan struct{}, n)
		}
	}
	return g
}

// sem is group's semaphore; an error names the groups there are.
func (g *actorGroups) sem(group string) (chan struct{}, error) {
	if group == "" {
		return g.def, nil
	}
	if s, ok := g.named[group]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("concurrency group %q is not defined on this actor (its groups: %v)", group, slices.Sorted(maps.Keys(g.named)))
}

// pushGrouped runs an actor's calls from one caller's stream in their
// groups: each group's calls queue in order and start as the group has
// room, while the calls of other groups go on.
func (w *Worker) pushGrouped(recv func() (*rpcpb.TaskBatch, error), groups *actorGroups, results chan<- *rpcpb.TaskResult) {
	type queue struct{ specs chan *rpcpb.TaskSpec }
	queues := map[string]*queue{}
	var running sync.WaitGroup
	var dispatchers sync.WaitGroup
	for {
		b, err := recv()
		if err != nil {
			break
		}
		for _, spec := range b.Tasks {
			sem, err := groups.sem(spec.ConcurrencyGroup)
			if err != nil {
				results <- &rpcpb.TaskResult{TaskId: spec.TaskId, Result: &rpcpb.Object{Error: taskErrInfo(spec.Name, err)}}
				continue
			}
			q := queues[spec.ConcurrencyGroup]
			if q == nil {
				// A dispatcher per group starts the group's calls in
				// order as its semaphore lets them.
				q = &queue{specs: make(chan *rpcpb.TaskSpec, groupQueue)}
				queues[spec.ConcurrencyGroup] = q
				dispatchers.Go(func() {
					for spec := range q.specs {
						sem <- struct{}{}
						running.Go(func() {
							r := w.execute(spec)
							<-sem
							results <- r
						})
					}
				})
			}
			q.specs <- spec
		}
	}
	for _, q := range queues {
		close(q.specs)
	}
	dispatchers.Wait()
	running.Wait()
}

// groupQueue is how many calls of one group a stream holds before its
// receiving waits (a caller's calls beyond its window wait in the caller).
const groupQueue = 1 << 14
