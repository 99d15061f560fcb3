package hop

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
)

// Server serves Handler to hop clients on any number of listeners.
type Server struct {
	Handler http.Handler
	// ErrorLog gets protocol errors and handler panics (nil: discarded).
	ErrorLog *log.Logger
	// Auth is checked against the token each connection opens with.
	Auth auth.Config

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*serverConn]struct{}
	inflight  int
	idle      chan struct{} // closed when inflight drops to 0 while shutting down
	closing   bool          // no new connections or requests
	closed    bool          // Close ran
	done      chan struct{} // closed by Close: stops the watch loop

	handlerNanos atomic.Int64  // a moving average of the handlers' run time
	watchAsleep  atomic.Bool   // the watch loop waits on wake
	wake         chan struct{} // (1) a request began inline while the watch loop slept
}

// OpeningTimeout bounds how long a new connection may take to send its
// preface and token.
const OpeningTimeout = 10 * time.Second

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
		sc := &serverConn{s: s, c: c, w: frameWriter{c: c}, streams: map[uint32]*serverStream{}}
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

// Shutdown stops accepting connections and requests (a request that comes
// meanwhile is refused, so its client sends it elsewhere), waits for the
// requests in flight (or for ctx), then closes every connection.
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
	// The last answers may still sit in a connection's write queue, for
	// the goroutine that is writing: let them out before closing.
	for _, sc := range s.connList() {
		sc.w.waitWritten(ctx)
	}
	s.Close()
	return err
}

// Close closes the listeners and every connection at once; the requests in
// flight see their context cancelled.
func (s *Server) Close() {
	s.mu.Lock()
	s.stopAcceptingLocked()
	if s.done != nil && !s.closed {
		s.closed = true
		close(s.done)
	}
	s.mu.Unlock()
	for _, sc := range s.connList() {
		_ = sc.c.Close()
		sc.endStreams()
	}
}

// stopAcceptingLocked closes the listeners. (The watch loop goes on until
// Close: requests running inline while the server drains still need it.)
func (s *Server) stopAcceptingLocked() {
	s.closing = true
	for l := range s.listeners {
		_ = l.Close()
	}
}

// connList is a snapshot of the connections, to act on outside s.mu.
func (s *Server) connList() []*serverConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*serverConn, 0, len(s.conns))
	for sc := range s.conns {
		conns = append(conns, sc)
	}
	return conns
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	}
}

// begin counts a request in, unless the server is shutting down.
func (s *Server) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.inflight++
	return true
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
	s      *Server
	c      net.Conn
	fr     *frameReader // read by one goroutine at a time (see inline.go)
	remote string
	w      frameWriter

	mu      sync.Mutex
	streams map[uint32]*serverStream
	ended   bool // the connection is gone: no new streams
	inline  inlineState
}

// serverStream is a request being handled.
type serverStream struct {
	cancel context.CancelFunc
	// Guarded by the connection's mu:
	window int           // bytes of data the client takes before it grants more
	gone   bool          // the client cancelled the stream, the connection ended or the tunnel closed
	wake   chan struct{} // (1) the window grew or the stream is gone
	body   *inBody       // a streamed request body (nil: the body came inline)
	// returned: the handler returned (a stream still filed after that is a
	// tunnel, which its Close or the client's cancel forgets)
	returned bool
}

// goneLocked marks the stream gone and wakes whoever waits on it.
func (st *serverStream) goneLocked() {
	st.gone = true
	signal(st.wake)
	if st.body != nil {
		signal(st.body.ready)
	}
}

// serve checks the preface, then reads the connection's frames: cancel and
// window frames go to their stream, and each request runs in a goroutine of
// its own — or, when it is the connection's only one and the server's
// handlers have been quick, in this goroutine (see inline.go). When the
// connection ends every request still running has its context cancelled.
func (sc *serverConn) serve() {
	sc.fr = newFrameReader(sc.c)
	// A peer that connects and says nothing is dropped, not held.
	_ = sc.c.SetReadDeadline(time.Now().Add(OpeningTimeout))
	pre := make([]byte, len(Preface))
	if _, err := io.ReadFull(sc.fr.br, pre); err != nil {
		sc.closeConn()
		return
	}
	if string(pre) != Preface {
		sc.s.logf("hop: %s: connection without the %q preface closed", sc.c.RemoteAddr(), Preface[:len(Preface)-1])
		sc.closeConn()
		return
	}
	var n [2]byte
	if _, err := io.ReadFull(sc.fr.br, n[:]); err != nil {
		sc.closeConn()
		return
	}
	l := int(binary.BigEndian.Uint16(n[:]))
	if l > auth.MaxTokenLen {
		sc.s.logf("hop: %s: a token of %d bytes: connection closed", sc.c.RemoteAddr(), l)
		sc.closeConn()
		return
	}
	tok := make([]byte, l)
	if _, err := io.ReadFull(sc.fr.br, tok); err != nil {
		sc.closeConn()
		return
	}
	if sc.s.Auth.Required && !sc.s.Auth.Valid(string(tok)) {
		sc.s.logf("hop: %s: connection without the cluster's auth token closed", sc.c.RemoteAddr())
		sc.closeConn()
		return
	}
	_ = sc.c.SetReadDeadline(time.Time{})
	sc.remote = sc.c.RemoteAddr().String()
	sc.read()
}

// read reads frames until the connection ends, or until the watch loop
// handed reading to another goroutine while this one ran a request inline.
func (sc *serverConn) read() {
	for {
		t, id, p, err := sc.fr.next()
		if err == nil {
			var handedOff bool
			handedOff, err = sc.take(t, id, p)
			if handedOff {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				sc.s.logf("hop: %s: %v", sc.remote, err)
			}
			sc.closeConn()
			return
		}
	}
}

func (sc *serverConn) closeConn() {
	_ = sc.c.Close()
	sc.endStreams()
	sc.s.mu.Lock()
	delete(sc.s.conns, sc)
	sc.s.mu.Unlock()
}

// take acts on one frame from the client; an error closes the connection.
// handedOff means the frame's request ran inline and another goroutine reads
// the connection now.
func (sc *serverConn) take(t frameType, id uint32, p []byte) (handedOff bool, err error) {
	switch t {
	case frameRequest, frameOpen:
		var req *http.Request
		var err error
		if t == frameRequest {
			req, err = decodeRequest(p)
		} else {
			req, err = decodeOpen(p)
		}
		if err != nil {
			return false, err
		}
		sc.mu.Lock()
		_, dup := sc.streams[id]
		alone := len(sc.streams) == 0
		sc.mu.Unlock()
		if dup {
			return false, fmt.Errorf("%w: stream %d is already in use", errProtocol, id)
		}
		if !sc.s.begin() {
			return false, sc.w.sendFrame(frameRefused, id)
		}
		ctx, cancel := context.WithCancel(context.Background())
		st := &serverStream{cancel: cancel, window: Window, wake: make(chan struct{}, 1)}
		if t == frameOpen {
			st.body = &inBody{ready: make(chan struct{}, 1)}
			req.Body = &bodyReader{sc: sc, st: st, id: id}
		}
		sc.mu.Lock()
		sc.streams[id] = st
		sc.w.streams.Store(int32(len(sc.streams)))
		if sc.ended { // Close got here first
			st.goneLocked()
			cancel()
		}
		sc.mu.Unlock()
		req.RemoteAddr = sc.remote
		req = req.WithContext(ctx)
		// A streamed body comes in frames this goroutine reads: never inline.
		if t == frameRequest && alone && sc.fr.buffered() == 0 && sc.s.quick() {
			return sc.runInline(id, st, req), nil
		}
		go sc.handle(id, st, req)
	case frameCancel:
		sc.mu.Lock()
		st := sc.streams[id]
		if st != nil {
			st.goneLocked()
			if st.returned { // a tunnel its handler left open: nothing will close it now
				delete(sc.streams, id)
				sc.w.streams.Store(int32(len(sc.streams)))
			}
		}
		sc.mu.Unlock()
		if st != nil {
			st.cancel()
		}
	case frameWindow:
		n, k := binary.Uvarint(p)
		if k <= 0 || k != len(p) || n > MaxFrame {
			return false, fmt.Errorf("%w: bad window frame", errProtocol)
		}
		sc.mu.Lock()
		if st := sc.streams[id]; st != nil {
			st.window += int(n)
			signal(st.wake)
		}
		sc.mu.Unlock()
	case frameBody, frameBodyEnd:
		return false, sc.takeBody(t, id, p)
	default:
		return false, fmt.Errorf("%w: unexpected frame type %d from a client", errProtocol, t)
	}
	return false, nil
}

// endStreams cancels every request still running on the connection.
func (sc *serverConn) endStreams() {
	sc.mu.Lock()
	sc.ended = true
	var cancels []context.CancelFunc
	for _, st := range sc.streams {
		st.goneLocked()
		cancels = append(cancels, st.cancel)
	}
	sc.mu.Unlock()
	for _, cancel := range cancels {
		cancel()
	}
}

func (sc *serverConn) handle(id uint32, st *serverStream, req *http.Request) {
	start := time.Now()
	w := &responseWriter{sc: sc, st: st, id: id, header: http.Header{}, req: req}
	defer func() {
		sc.s.timeHandler(time.Since(start))
		sc.mu.Lock()
		st.returned = true
		gone := st.gone
		sc.mu.Unlock()
		if w.tun == nil || gone { // a tunnel's stream lives on until the tunnel closes, or the client cancels it
			sc.forget(id)
		}
		st.cancel()
		sc.s.requestDone()
	}()
	defer func() {
		if v := recover(); v != nil {
			if !isAbort(v) {
				sc.s.logf("hop: panic serving %s %s: %v", req.Method, req.URL, v)
			}
			w.abort(v)
		}
	}()
	sc.s.Handler.ServeHTTP(w, req)
	w.finish()
}

// forget drops a finished stream.
func (sc *serverConn) forget(id uint32) {
	sc.mu.Lock()
	delete(sc.streams, id)
	sc.w.streams.Store(int32(len(sc.streams)))
	sc.mu.Unlock()
}

// errStreamGone is what a handler's Write returns once its client is gone.
var errStreamGone = errors.New("hop: the client is gone")

// bufferLimit is how much of a body a response buffers before it starts
// streaming; a response that fits goes out as one full frame.
const bufferLimit = 32 << 10

// responseWriter buffers a response and sends it when the handler returns,
// flushes, or writes more than bufferLimit.
type responseWriter struct {
	sc       *serverConn
	st       *serverStream
	id       uint32
	req      *http.Request
	tun      *tunnelConn // the handler took the stream over (Hijack)
	header   http.Header
	status   int // 0 until WriteHeader
	noBody   bool
	headSent bool
	buf      []byte
	err      error // the client or the connection is gone
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	// Informational answers are not forwarded, but for 101: a handler
	// that switches protocols (a WebSocket server) sets it, then takes the
	// stream over, and the tunnel frame carries it.
	if code < 200 && code != http.StatusSwitchingProtocols {
		return
	}
	w.status = code
	w.noBody = code == http.StatusNoContent || code == http.StatusNotModified || code == http.StatusSwitchingProtocols
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.tun != nil {
		return 0, http.ErrHijacked
	}
	if w.noBody {
		return 0, http.ErrBodyNotAllowed
	}
	if w.err != nil {
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	if len(w.buf) >= bufferLimit {
		if err := w.sendBuffered(); err != nil {
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
	if w.tun != nil || w.status == http.StatusSwitchingProtocols {
		return // nothing to send before the stream is taken over
	}
	_ = w.sendBuffered()
}

// sendBuffered sends the head (once) and the buffered body as data frames.
func (w *responseWriter) sendBuffered() error {
	if w.err != nil {
		return w.err
	}
	if !w.headSent {
		w.headSent = true
		if w.err = w.sc.w.sendFrame(frameHead, w.id, encodeStatus(nil, w.status, w.header)); w.err != nil {
			return w.err
		}
	}
	_, w.err = w.sendData(w.buf, nil)
	w.buf = w.buf[:0]
	return w.err
}

// sendData sends p as data frames, each within the stream's window; it
// waits for the client to grant more when the window is used up, or until
// expire is closed (a tunnel's write deadline; nil: none).
func (w *responseWriter) sendData(p []byte, expire <-chan struct{}) (int, error) {
	sc, st := w.sc, w.st
	sent := 0
	for len(p) > 0 {
		sc.mu.Lock()
		for st.window == 0 && !st.gone {
			sc.mu.Unlock()
			select {
			case <-st.wake:
			case <-expire:
				return sent, os.ErrDeadlineExceeded
			}
			sc.mu.Lock()
		}
		if st.gone {
			sc.mu.Unlock()
			return sent, errStreamGone
		}
		n := min(len(p), st.window)
		st.window -= n
		sc.mu.Unlock()
		if err := sc.w.sendFrame(frameData, w.id, p[:n]); err != nil {
			return sent, err
		}
		sent += n
		p = p[n:]
	}
	return sent, nil
}

// finish sends what is left once the handler returned.
func (w *responseWriter) finish() {
	if w.tun != nil {
		return // the tunnel answers from now on, until it closes
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.cancelled() || w.err != nil {
		return
	}
	if w.status == http.StatusSwitchingProtocols && !w.headSent {
		b := encodeStatus(nil, http.StatusInternalServerError, http.Header{"Content-Type": {"text/plain; charset=utf-8"}})
		_ = w.sc.w.sendFrame(frameFull, w.id, b, []byte("the handler switched protocols without taking the connection over (Hijack)\n"))
		return
	}
	if !w.headSent {
		_ = w.sc.w.sendFrame(frameFull, w.id, encodeStatus(nil, w.status, w.header), w.buf)
		return
	}
	if _, err := w.sendData(w.buf, nil); err == nil {
		_ = w.sc.w.sendFrame(frameEnd, w.id)
	}
}

// cancelled reports whether the client cancelled the stream (or the
// connection ended), and then answers the cancel: the client's reader may be
// waiting for this stream's last frame.
func (w *responseWriter) cancelled() bool {
	w.sc.mu.Lock()
	gone := w.st.gone
	w.sc.mu.Unlock()
	if gone {
		_ = w.sc.w.sendFrame(frameAbort, w.id, []byte("cancelled"))
	}
	return gone
}

// abort answers a handler that panicked: 500 if nothing was sent yet (the
// request reached the handler, so the router must not retry it elsewhere),
// else an abort frame that breaks the client's body off.
func (w *responseWriter) abort(v any) {
	if w.tun != nil {
		w.tun.breakOff(fmt.Sprint(v))
		return
	}
	if w.cancelled() || w.err != nil {
		return
	}
	if !w.headSent && !isAbort(v) {
		b := encodeStatus(nil, http.StatusInternalServerError, http.Header{"Content-Type": {"text/plain; charset=utf-8"}})
		_ = w.sc.w.sendFrame(frameFull, w.id, b, []byte("Internal Server Error\n"))
		return
	}
	_ = w.sc.w.sendFrame(frameAbort, w.id, []byte(fmt.Sprint(v)))
}

var (
	_ http.ResponseWriter = (*responseWriter)(nil)
	_ http.Flusher        = (*responseWriter)(nil)
	_ http.Hijacker       = (*responseWriter)(nil)
)

// isAbort reports whether a handler's panic value is http.ErrAbortHandler
// (a deliberate abort, not logged).
func isAbort(v any) bool {
	err, ok := v.(error)
	return ok && errors.Is(err, http.ErrAbortHandler)
}
