package hop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server serves Handler to hop clients on any number of listeners.
type Server struct {
	Handler http.Handler
	// ErrorLog gets protocol errors and handler panics (nil: discarded).
	ErrorLog *log.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	inflight  int
	idle      chan struct{} // closed when inflight drops to 0 while shutting down
	closing   bool
	done      chan struct{} // closed with closing: stops the watch loop

	watchAsleep atomic.Bool   // the watch loop waits on wake
	wake        chan struct{} // a request began while the watch loop slept
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = errors.New("hop: server closed")

// Serve accepts connections on l until the server shuts down.
func (s *Server) Serve(l net.Listener) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		_ = l.Close()
		return ErrServerClosed
	}
	if s.listeners == nil {
		s.listeners, s.conns = map[net.Listener]struct{}{}, map[*serverConn]struct{}{}
		s.done, s.wake = make(chan struct{}), make(chan struct{}, 1)
		go s.watchLoop()
	}
	s.listeners[l] = struct{}{}
	s.mu.Unlock()
	var backoff time.Duration
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() { // e.g. out of file descriptors: wait and go on
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetNoDelay(true)
		}
		sc := &serverConn{s: s, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}
		s.mu.Lock()
		if s.closing {
			s.mu.Unlock()
			_ = c.Close()
			return ErrServerClosed
		}
		s.conns[sc] = struct{}{}
		s.mu.Unlock()
		go sc.serve()
	}
}

// Shutdown stops accepting connections, waits for the requests in flight
// (or for ctx), then closes every connection. Clients see an idle
// connection's close before they send on it again, and retry elsewhere.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.stopAcceptingLocked()
	var idle chan struct{}
	if s.inflight > 0 {
		s.idle = make(chan struct{})
		idle = s.idle
	}
	s.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	s.Close()
	return err
}

// Close closes the listeners and every connection at once; the requests in
// flight see their context cancelled.
func (s *Server) Close() {
	s.mu.Lock()
	s.stopAcceptingLocked()
	for sc := range s.conns {
		_ = sc.c.Close()
		sc.mu.Lock()
		if sc.cancel != nil {
			sc.cancel()
		}
		sc.mu.Unlock()
	}
	s.mu.Unlock()
}

// stopAcceptingLocked closes the listeners and stops the watch loop.
func (s *Server) stopAcceptingLocked() {
	if s.done != nil && !s.closing {
		close(s.done)
	}
	s.closing = true
	for l := range s.listeners {
		_ = l.Close()
	}
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	}
}

func (s *Server) requestDone() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	s.mu.Unlock()
}

type serverConn struct {
	s  *Server
	c  net.Conn
	br *bufio.Reader

	// Only the connection's goroutine writes: it runs the handler.
	bw     *bufio.Writer
	broken error // the first write error: the connection is unusable

	// The request in flight, for the watch loop.
	mu       sync.Mutex
	busy     bool
	seq      uint64             // requests begun
	seen     uint64             // seq at the watch loop's last look
	cancel   context.CancelFunc // the request's
	watching chan struct{}      // closed when the request's watcher returns; nil if it has none
}

// serve reads the connection's requests and runs each in this goroutine
// (one at a time: a client opens more connections to send more at once).
// Handing each request to a goroutine of its own would cost a goroutine
// start, a wake-up of another thread and a read that finds nothing, on
// every request; instead the server's watch loop gives a request that runs
// for a while a watcher that cancels its context when the client closes the
// connection (see watch.go).
func (sc *serverConn) serve() {
	defer func() {
		_ = sc.c.Close()
		sc.s.mu.Lock()
		delete(sc.s.conns, sc)
		sc.s.mu.Unlock()
	}()
	pre := make([]byte, len(Preface))
	if _, err := io.ReadFull(sc.br, pre); err != nil {
		return
	}
	if string(pre) != Preface {
		sc.s.logf("hop: %s: connection without the %q preface closed", sc.c.RemoteAddr(), Preface[:len(Preface)-1])
		return
	}
	remote := sc.c.RemoteAddr().String()
	for {
		t, id, p, err := readFrame(sc.br)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				sc.s.logf("hop: %s: %v", remote, err)
			}
			return
		}
		if t != frameRequest {
			sc.s.logf("hop: %s: unexpected frame type %d from a client", remote, t)
			return
		}
		req, err := decodeRequest(p)
		if err != nil {
			sc.s.logf("hop: %s: %v", remote, err)
			return
		}
		req.RemoteAddr = remote
		sc.handle(id, req)
		if sc.broken != nil {
			return
		}
	}
}

func (sc *serverConn) handle(id uint32, req *http.Request) {
	ctx, cancel := context.WithCancel(context.Background())
	sc.begin(cancel)
	defer func() {
		sc.end()
		cancel()
	}()
	w := &responseWriter{sc: sc, id: id, header: http.Header{}}
	defer func() {
		if v := recover(); v != nil {
			if !isAbort(v) {
				sc.s.logf("hop: panic serving %s %s: %v", req.Method, req.URL, v)
			}
			w.abort(v)
		}
	}()
	sc.s.Handler.ServeHTTP(w, req.WithContext(ctx))
	w.finish()
}

// send writes frames and flushes them, unless an earlier write broke the connection.
func (sc *serverConn) send(write func(bw *bufio.Writer) error) error {
	if sc.broken != nil {
		return sc.broken
	}
	err := write(sc.bw)
	if err == nil {
		err = sc.bw.Flush()
	}
	if err != nil {
		sc.broken = err
		_ = sc.c.Close()
	}
	return err
}

// bufferLimit is how much of a body a response buffers before it starts
// streaming; a response that fits goes out as one full frame.
const bufferLimit = 32 << 10

// responseWriter buffers a response and sends it when the handler returns,
// flushes, or writes more than bufferLimit.
type responseWriter struct {
	sc       *serverConn
	id       uint32
	header   http.Header
	status   int // 0 until WriteHeader
	noBody   bool
	headSent bool
	buf      []byte
	scratch  []byte
	err      error // the connection broke: the client is gone
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code < 200 { // informational answers are not forwarded
		return
	}
	w.status = code
	w.noBody = code == http.StatusNoContent || code == http.StatusNotModified
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= bufferLimit {
		if err := w.sendBuffered(false); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// Flush sends what the handler wrote so far.
func (w *responseWriter) Flush() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	_ = w.sendBuffered(true)
}

// sendBuffered sends the head (once) and the buffered body as a data frame.
func (w *responseWriter) sendBuffered(force bool) error {
	if w.err != nil {
		return w.err
	}
	if len(w.buf) == 0 && w.headSent && !force {
		return nil
	}
	w.err = w.sc.send(func(bw *bufio.Writer) error {
		if !w.headSent {
			w.scratch = encodeStatus(w.scratch[:0], w.status, w.header)
			if err := writeFrame(bw, frameHead, w.id, w.scratch); err != nil {
				return err
			}
		}
		if len(w.buf) > 0 {
			return writeFrame(bw, frameData, w.id, w.buf)
		}
		return nil
	})
	w.headSent = true
	w.buf = w.buf[:0]
	return w.err
}

// finish sends what is left once the handler returned.
func (w *responseWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return
	}
	if !w.headSent {
		w.scratch = encodeStatus(w.scratch[:0], w.status, w.header)
		_ = w.sc.send(func(bw *bufio.Writer) error { return writeFrame(bw, frameFull, w.id, w.scratch, w.buf) })
		return
	}
	_ = w.sc.send(func(bw *bufio.Writer) error {
		if len(w.buf) > 0 {
			if err := writeFrame(bw, frameData, w.id, w.buf); err != nil {
				return err
			}
		}
		return writeFrame(bw, frameEnd, w.id)
	})
}

// abort answers a handler that panicked: 500 if nothing was sent yet (the
// request reached the handler, so the router must not retry it elsewhere),
// else an abort frame that breaks the client's body off.
func (w *responseWriter) abort(v any) {
	if w.err != nil {
		return
	}
	if !w.headSent && !isAbort(v) {
		b := encodeStatus(nil, http.StatusInternalServerError, http.Header{"Content-Type": {"text/plain; charset=utf-8"}})
		_ = w.sc.send(func(bw *bufio.Writer) error {
			return writeFrame(bw, frameFull, w.id, b, []byte("Internal Server Error\n"))
		})
		return
	}
	_ = w.sc.send(func(bw *bufio.Writer) error { return writeFrame(bw, frameAbort, w.id, []byte(fmt.Sprint(v))) })
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
)

// isAbort reports whether a handler's panic value is http.ErrAbortHandler
// (a deliberate abort, not logged).
func isAbort(v any) bool {
	err, ok := v.(error)
	return ok && errors.Is(err, http.ErrAbortHandler)
}
