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

type replica struct {
	id, addr string
	// dial is what to connect to: addr, or "unix:<path>" for a replica on
	// this router's node that serves on a unix socket (cheaper than TCP
	// loopback on the hop every request takes).
	dial     string
	ongoing  int
	badUntil time.Time
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
		if o, ok := old[x.ID]; ok && o.addr == x.Address && o.dial == dial {
			reps = append(reps, o)
		} else {
			reps = append(reps, &replica{id: x.ID, addr: x.Address, dial: dial})
		}
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

// pickLocked is power of two choices among the replicas with room.
func (r *Router) pickLocked(tried map[string]bool, now time.Time) *replica {
	var a, b *replica
	n := 0
	for _, x := range r.reps {
		if x.ongoing >= r.maxOngoing || tried[x.id] || now.Before(x.badUntil) {
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

func (r *Router) acquire(ctx context.Context, maxWait time.Duration, tried map[string]bool) (*replica, error) {
	r.mu.Lock()
	if x := r.pickLocked(tried, time.Now()); x != nil {
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
		if x := r.pickLocked(tried, time.Now()); x != nil {
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
func (r *Router) Send(ctx context.Context, maxWait time.Duration, build func(addr string) (*http.Request, error)) (resp *http.Response, done func(), err error) {
	tried := map[string]bool(nil) // replicas this request failed on
	mark := func(id string) {
		if tried == nil {
			tried = map[string]bool{}
		}
		tried[id] = true
	}
	for {
		x, err := r.acquire(ctx, maxWait, tried)
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
