package hop

import (
	"net/http"
	"time"
)

// Running a request inline. Handing a request to a goroutine of its own
// costs a goroutine start and, when the process has an idle processor, the
// wake-up of another thread — more than a small handler itself. So a
// request that arrives alone on its connection (no other stream running,
// nothing more read) runs in the connection's reading goroutine when the
// server's handlers have been quick lately (inlineBelow on average). While
// it runs nobody reads the connection; the server's watch loop looks every
// watchAfter, and a request it finds still running inline at a second look
// gets a new goroutine to read the connection, so a request that turns out
// slow holds up the connection's other requests (and its cancel frames) for
// at most that long. Slow handlers, on average, always run in their own
// goroutine.

// inlineBelow is the average handler time under which requests may run inline.
const inlineBelow = 200 * time.Microsecond

// watchAfter is the watch loop's period.
const watchAfter = 5 * time.Millisecond

// watchIdleTicks is how many looks without an inline request put the watch loop to sleep.
const watchIdleTicks = 200

// inlineState is a connection's inline request, guarded by its mu.
type inlineState struct {
	running   bool
	seq, seen uint64 // inline runs begun; seq at the watch loop's last look
	handedOff bool   // the watch loop started another reader
}

// quick reports whether the handlers have been quick enough to run inline.
func (s *Server) quick() bool {
	return time.Duration(s.handlerNanos.Load()) < inlineBelow
}

// timeHandler folds a handler's run time into the moving average (1/8 weight).
func (s *Server) timeHandler(d time.Duration) {
	for {
		old := s.handlerNanos.Load()
		if s.handlerNanos.CompareAndSwap(old, old+(int64(d)-old)/8) {
			return
		}
	}
}

// runInline runs a request in the reading goroutine and reports whether the
// watch loop handed reading to another goroutine meanwhile.
func (sc *serverConn) runInline(id uint32, st *serverStream, req *http.Request) (handedOff bool) {
	sc.mu.Lock()
	sc.inline.running = true
	sc.inline.seq++
	sc.mu.Unlock()
	if sc.s.watchAsleep.Load() {
		signal(sc.s.wake)
	}
	sc.handle(id, st, req)
	sc.mu.Lock()
	handedOff = sc.inline.handedOff
	sc.inline = inlineState{seq: sc.inline.seq, seen: sc.inline.seen}
	sc.mu.Unlock()
	return handedOff
}

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
		// Asleep first, then a last look: a request that begins inline
		// meanwhile either is seen here or sees the loop asleep and wakes it.
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

// scan hands reading to a new goroutine on connections whose inline request
// was running at the last look too, and reports whether any runs inline.
func (s *Server) scan() bool {
	running := false
	for _, sc := range s.connList() {
		sc.mu.Lock()
		in := &sc.inline
		if in.running {
			running = true
			if in.seen == in.seq && !in.handedOff {
				in.handedOff = true
				go sc.read()
			}
		}
		in.seen = in.seq
		sc.mu.Unlock()
	}
	return running
}
