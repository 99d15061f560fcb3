// Package router sends requests to a deployment's replicas the way Ray
// Serve's proxies and handles do: the less loaded of two random replicas
// (power of two choices), at most max_ongoing_requests in flight per
// replica from this router, a queue of up to max_queued_requests (-1 =
// unlimited) beyond which requests are shed, and a retry on another replica
// when the chosen one died or was draining before it answered. Requests
// travel in package hop's protocol.
package router

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/serve/internal/hop"
	"github.com/goray-dev/goray/runtime/serve/internal/routes"
)

// pool holds the connections to replicas, which speak package hop's
// protocol, opened with this process's auth token (a proxy in a node, a
// handle in a replica: both read it from the environment their process was
// started with).
var pool = sync.OnceValue(func() *hop.Pool {
	sec, _ := auth.Process() // a bad environment already stopped the process's start
	p := &hop.Pool{Token: sec.Token}
	if sec.TLS != nil {
		p.TLS = sec.TLS.ClientConfig()
	}
	return p
})

// RejectHeader marks a response of a replica that did not process the
// request (it is draining); the router retries it elsewhere.
const RejectHeader = "X-Goray-Serve-Rejected"

// ErrShed means the queue was full (max_queued_requests).
var ErrShed = errors.New("request shed: the deployment's queue is full (max_queued_requests)")

// ErrNoReplica means no replica became available in time.
var ErrNoReplica = errors.New("no replica of the deployment became available")

// badFor is how long a replica that failed a request is skipped.
const badFor = 2 * time.Second

// ModelIDHeader names the model a request of a multiplexed deployment asks
// for (Ray Serve's serve_multiplexed_model_id).
const ModelIDHeader = "serve_multiplexed_model_id"

// modelWait is how long a request for a model waits for a replica holding
// it to have room before any replica will do (which then loads it), as
// Ray's multiplexed matching timeout.
const modelWait = time.Second

// stickyFor is how long a model stays with the replica this router last
// sent it to, until the table (the replicas' reports, read every few
// seconds) says where models are.
const stickyFor = 5 * time.Second

// maxSticky bounds the sticky choices (a router seeing more distinct
// models than this starts over).
const maxSticky = 10_000

type replica struct {
	id, addr string
	// dial is what to connect to: addr, or "unix:<path>" for a replica on
	// this router's node that serves on a unix socket (cheaper than TCP
	// loopback on the hop every request takes).
	dial     string
	ongoing  int
	badUntil time.Time
	models   map[string]bool // the models it reported holding
}

// sticky is the replica a model was last sent to, until when.
type sticky struct {
	replica string
	until   time.Time
}

// Router routes to one deployment's replicas.
type Router struct {
	node       string // the node this router runs on ("" = unknown)
	mu         sync.Mutex
	reps       []*replica
	maxOngoing int
	maxQueued  int
	queued     int
	waiters    []chan struct{}
	sticky     map[string]sticky // model -> where this router sent it last
}

// New makes an empty router for a proxy or handle on node (its id; "" if
// unknown, which keeps every hop on TCP).
func New(node string) *Router { return &Router{node: node, maxOngoing: 5, maxQueued: -1} }

// Update replaces the replica set and limits (counts of kept replicas stay).
func (r *Router) Update(d routes.Deployment) {
	r.mu.Lock()
	old := map[string]*replica{}
	for _, x := range r.reps {
		old[x.id] = x
	}
	var reps []*replica
	for _, x := range d.Replicas {
		dial := x.Address
		if x.Socket != "" && r.node != "" && x.NodeID == r.node {
			dial = "unix:" + x.Socket
		}
		rep, ok := old[x.ID]
		if !ok || rep.addr != x.Address || rep.dial != dial {
			rep = &replica{id: x.ID, addr: x.Address, dial: dial}
		}
		rep.models = nil
		if len(x.Models) > 0 {
			rep.models = make(map[string]bool, len(x.Models))
			for _, m := range x.Models {
				rep.models[m] = true
			}
		}
		reps = append(reps, rep)
	}
	for _, x := range r.reps {
		if !slices.ContainsFunc(reps, func(y *replica) bool { return y.dial == x.dial }) {
			pool().Retire(x.dial) // gone from the table: its connection closes when idle
		}
	}
	r.reps = reps
	if d.MaxOngoing > 0 {
		r.maxOngoing = d.MaxOngoing
	}
	if d.MaxQueued != 0 {
		r.maxQueued = d.MaxQueued
	}
	r.wakeAllLocked()
	r.mu.Unlock()
}

// Len is the number of routable replicas.
func (r *Router) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reps)
}

func (r *Router) wakeAllLocked() {
	for _, w := range r.waiters {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	r.waiters = nil
}

// pickLocked chooses a replica with room for a request (for model, if not
// ""): power of two choices among those that hold the model, or — none
// holding it, or strict off — among those with the fewest models (the one
// chosen loads it), or among all without a model. With strict, a request
// whose model's holders are all busy waits for them (nil).
func (r *Router) pickLocked(tried map[string]bool, now time.Time, model string, strict bool) *replica {
	if model == "" {
		return r.twoChoicesLocked(tried, now, nil)
	}
	holds := func(x *replica) bool {
		if st, ok := r.sticky[model]; ok && st.replica == x.id && now.Before(st.until) {
			return true
		}
		return x.models[model]
	}
	if x := r.twoChoicesLocked(tried, now, holds); x != nil {
		r.stickLocked(model, x, now)
		return x
	}
	if strict && slices.ContainsFunc(r.reps, func(x *replica) bool { return holds(x) && !tried[x.id] && !now.Before(x.badUntil) }) {
		return nil
	}
	// How many models each replica holds: reported, or sent there by this
	// router since (not yet in a report).
	count := map[string]int{}
	for _, x := range r.reps {
		count[x.id] = len(x.models)
	}
	for m, st := range r.sticky {
		if now.Before(st.until) {
			if x := r.byID(st.replica); x != nil && !x.models[m] {
				count[x.id]++
			}
		}
	}
	fewest := -1
	for _, x := range r.reps {
		if x.ongoing < r.maxOngoing && !tried[x.id] && !now.Before(x.badUntil) && (fewest < 0 || count[x.id] < fewest) {
			fewest = count[x.id]
		}
	}
	x := r.twoChoicesLocked(tried, now, func(x *replica) bool { return count[x.id] == fewest })
	if x != nil {
		r.stickLocked(model, x, now)
	}
	return x
}

func (r *Router) byID(id string) *replica {
	for _, x := range r.reps {
		if x.id == id {
			return x
		}
	}
	return nil
}

func (r *Router) stickLocked(model string, x *replica, now time.Time) {
	if r.sticky == nil || len(r.sticky) >= maxSticky {
		r.sticky = map[string]sticky{}
	}
	r.sticky[model] = sticky{replica: x.id, until: now.Add(stickyFor)}
}

// twoChoicesLocked is power of two choices among the replicas with room
// that ok accepts (every one if ok is nil).
func (r *Router) twoChoicesLocked(tried map[string]bool, now time.Time, ok func(*replica) bool) *replica {
	var a, b *replica
	n := 0
	for _, x := range r.reps {
		if x.ongoing >= r.maxOngoing || tried[x.id] || now.Before(x.badUntil) || (ok != nil && !ok(x)) {
			continue
		}
		// Reservoir-sample two distinct candidates.
		n++
		if n == 1 {
			a = x
		} else if n == 2 {
			b = x
		} else if k := rand.IntN(n); k < 2 {
			if k == 0 {
				a = x
			} else {
				b = x
			}
		}
	}
	if b != nil && (b.ongoing < a.ongoing || (b.ongoing == a.ongoing && rand.IntN(2) == 0)) {
		return b
	}
	return a
}

func (r *Router) acquire(ctx context.Context, maxWait time.Duration, tried map[string]bool, model string) (*replica, error) {
	start := time.Now()
	r.mu.Lock()
	if x := r.pickLocked(tried, start, model, true); x != nil {
		x.ongoing++
		r.mu.Unlock()
		return x, nil
	}
	r.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, maxWait)
	defer cancel()
	queued := false
	defer func() {
		if queued {
			r.mu.Lock()
			r.queued--
			r.mu.Unlock()
		}
	}()
	for {
		r.mu.Lock()
		now := time.Now()
		if x := r.pickLocked(tried, now, model, now.Sub(start) < modelWait); x != nil {
			x.ongoing++
			r.mu.Unlock()
			return x, nil
		}
		if !queued {
			if r.maxQueued >= 0 && r.queued >= r.maxQueued {
				r.mu.Unlock()
				return nil, ErrShed
			}
			r.queued++
			queued = true
		}
		ch := make(chan struct{}, 1)
		r.waiters = append(r.waiters, ch)
		r.mu.Unlock()
		t := time.NewTimer(50 * time.Millisecond)
		select {
		case <-ch:
		case <-t.C:
			clear(tried) // every replica failed this request: try them again
		case <-ctx.Done():
			t.Stop()
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return nil, ErrNoReplica
			}
			return nil, ctx.Err()
		}
		t.Stop()
	}
}

func (r *Router) release(x *replica, bad bool) {
	r.mu.Lock()
	x.ongoing--
	if bad {
		x.badUntil = time.Now().Add(badFor)
	}
	if len(r.waiters) > 0 {
		w := r.waiters[0]
		r.waiters = r.waiters[1:]
		select {
		case w <- struct{}{}:
		default:
		}
	}
	r.mu.Unlock()
}

// Send sends a request built for a chosen replica's address, retrying on
// another replica when one fails before answering (connection refused or
// reset, or draining) — but not once part of a streamed body went out.
// Every request build returns may carry the same streamed body: a request
// that failed before its body was read leaves it untouched. maxWait bounds each wait for a replica; ctx the
// whole request. done must be called once the response body is consumed.
//
// model, if not "", is the model the request asks for (ModelIDHeader): it
// goes to a replica holding that model when one has room within a second.
func (r *Router) Send(ctx context.Context, maxWait time.Duration, model string, build func(addr string) (*http.Request, error)) (resp *http.Response, done func(), err error) {
	tried := map[string]bool(nil) // replicas this request failed on
	mark := func(id string) {
		if tried == nil {
			tried = map[string]bool{}
		}
		tried[id] = true
	}
	for {
		x, err := r.acquire(ctx, maxWait, tried, model)
		if err != nil {
			return nil, nil, err
		}
		req, err := build(x.addr)
		if err != nil {
			r.release(x, false)
			return nil, nil, err
		}
		resp, err := pool().RoundTrip(req.WithContext(ctx), x.dial)
		if err != nil {
			r.release(x, ctx.Err() == nil)
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			if errors.Is(err, hop.ErrBodySent) {
				return nil, nil, err // its streamed body is gone: it cannot go elsewhere
			}
			mark(x.id)
			continue
		}
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get(RejectHeader) != "" {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			r.release(x, true)
			mark(x.id)
			continue
		}
		var once sync.Once
		return resp, func() { once.Do(func() { r.release(x, false) }) }, nil
	}
}
