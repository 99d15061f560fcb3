package hop

import (
	"context"
	"errors"
	"net"
	"time"
)

// A connection's goroutine runs its requests, so nothing reads the
// connection while a handler runs. The server's watch loop looks at the
// connections every watchAfter; one whose request was already running at the
// previous look gets a watcher: a goroutine that waits for the client to
// close the connection and then cancels the request's context. A request
// thus costs two uncontended lock operations here — not a timer, whose
// arming could wake a sleeping thread on every request.

// watchAfter is the watch loop's period: requests shorter than it are never watched.
const watchAfter = 5 * time.Millisecond

// watchIdleTicks is how many looks without a request in flight put the watch loop to sleep.
const watchIdleTicks = 200

func (s *Server) watchLoop() {
	t := time.NewTicker(watchAfter)
	defer t.Stop()
	quiet := 0
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		if s.scan() {
			quiet = 0
			continue
		}
		if quiet++; quiet < watchIdleTicks {
			continue
		}
		// Asleep first, then a last look: a request that begins meanwhile
		// either is seen here or sees the loop asleep and wakes it.
		s.watchAsleep.Store(true)
		if !s.scan() {
			t.Stop()
			select {
			case <-s.wake:
			case <-s.done:
				return
			}
			t.Reset(watchAfter)
		}
		s.watchAsleep.Store(false)
		quiet = 0
	}
}

// scan starts watchers for requests that were running at the last look too,
// and reports whether any request is running.
func (s *Server) scan() bool {
	any := false
	s.mu.Lock()
	defer s.mu.Unlock()
	for sc := range s.conns {
		sc.mu.Lock()
		if sc.busy {
			any = true
			if sc.seen == sc.seq && sc.watching == nil {
				sc.watching = make(chan struct{})
				go sc.watch(sc.cancel, sc.watching)
			}
		}
		sc.seen = sc.seq
		sc.mu.Unlock()
	}
	return any
}

// begin marks a request running on the connection.
func (sc *serverConn) begin(cancel context.CancelFunc) {
	sc.mu.Lock()
	sc.busy, sc.cancel = true, cancel
	sc.seq++
	sc.mu.Unlock()
	sc.s.mu.Lock()
	sc.s.inflight++
	sc.s.mu.Unlock()
	if sc.s.watchAsleep.Load() {
		select {
		case sc.s.wake <- struct{}{}:
		default:
		}
	}
}

// end marks the request done and stops its watcher, if it has one, before
// the connection's goroutine reads again.
func (sc *serverConn) end() {
	sc.mu.Lock()
	sc.busy, sc.cancel = false, nil
	done := sc.watching
	sc.watching = nil
	sc.mu.Unlock()
	if done != nil {
		_ = sc.c.SetReadDeadline(time.Unix(1, 0)) // wakes the watcher's read
		<-done
		_ = sc.c.SetReadDeadline(time.Time{})
	}
	sc.s.requestDone()
}

// watch cancels the request when the client closes the connection. Peek
// consumes nothing: a byte that arrives instead is the client's next
// request, left for the connection's goroutine.
func (sc *serverConn) watch(cancel context.CancelFunc, done chan struct{}) {
	defer close(done)
	if _, err := sc.br.Peek(1); err != nil {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			cancel()
		}
	}
}
