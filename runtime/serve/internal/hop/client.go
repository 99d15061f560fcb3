package hop

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ErrNotSent means the request did not run: the connection was gone before
// it went out, or the server refused it while shutting down. It is safe to
// send again elsewhere.
var ErrNotSent = errors.New("hop: the request was not taken")

// errRefused is a request the server refused because it is shutting down.
var errRefused = fmt.Errorf("%w: the server is shutting down", ErrNotSent)

// Pool keeps one multiplexed connection per address and sends requests over it.
type Pool struct {
	// DialTimeout bounds a new connection (default 2s).
	DialTimeout time.Duration
	// Token is the cluster's auth token, sent when a connection opens.
	Token string
	// TLS, when set, wraps TCP connections (not unix sockets: those stay
	// on the node, in a directory only its user reads).
	TLS *tls.Config

	mu    sync.Mutex
	addrs map[string]*poolEntry
}

// poolEntry is an address's connection. Its dial lock is held while
// dialing, so requests that find no connection wait for one dial instead of
// each making one, and while an entry is retired.
type poolEntry struct {
	conn atomic.Pointer[clientConn]
	dial sync.Mutex
	dead bool // retired from the pool's map (guarded by dial)
}

// conn returns the address's connection, dialing one if there is none
// usable; reused tells whether it was there before.
func (p *Pool) conn(addr string) (*clientConn, bool, error) {
	for {
		p.mu.Lock()
		if p.addrs == nil {
			p.addrs = map[string]*poolEntry{}
		}
		e := p.addrs[addr]
		if e == nil {
			e = &poolEntry{}
			p.addrs[addr] = e
		}
		p.mu.Unlock()
		if c := e.conn.Load(); c != nil && c.usable() {
			return c, true, nil
		}
		e.dial.Lock()
		if e.dead {
			e.dial.Unlock()
			continue
		}
		if c := e.conn.Load(); c != nil && c.usable() {
			e.dial.Unlock()
			return c, true, nil
		}
		c, err := p.dial(e, addr)
		if err != nil && e.conn.Load() == nil {
			p.retire(e, addr)
		}
		e.dial.Unlock()
		return c, false, err
	}
}

func (p *Pool) dial(e *poolEntry, addr string) (*clientConn, error) {
	network, target := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, target = "unix", path
	}
	timeout := p.DialTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	nc, err := net.DialTimeout(network, target, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
		if p.TLS != nil {
			tlc := tls.Client(nc, p.TLS)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			err := tlc.HandshakeContext(ctx)
			cancel()
			if err != nil {
				_ = nc.Close()
				return nil, err
			}
			nc = tlc
		}
	}
	c := &clientConn{pool: p, entry: e, addr: addr, c: nc, fr: newFrameReader(nc), w: frameWriter{c: nc}, streams: map[uint32]*clientStream{}}
	c.w.buf = append(c.w.buf, opening(p.Token)...) // goes out with the first request
	e.conn.Store(c)
	return c, nil
}

// retire drops an entry from the map (its dial lock held): a later request
// makes a new one.
func (p *Pool) retire(e *poolEntry, addr string) {
	e.dead = true
	p.mu.Lock()
	if p.addrs[addr] == e {
		delete(p.addrs, addr)
	}
	p.mu.Unlock()
}

// forget retires a connection that ended, unless a newer one replaced it.
func (p *Pool) forget(c *clientConn) {
	c.entry.dial.Lock()
	if c.entry.conn.CompareAndSwap(c, nil) {
		p.retire(c.entry, c.addr)
	}
	c.entry.dial.Unlock()
}

// clientConn is a connection to one server, shared by many requests.
type clientConn struct {
	pool  *Pool
	entry *poolEntry
	addr  string
	c     net.Conn
	fr    *frameReader // read by the goroutine holding the read token
	w     frameWriter

	mu      sync.Mutex
	streams map[uint32]*clientStream
	lastID  uint32
	err     error // why the connection ended; nil while it lives
	refused bool  // the server is shutting down: no new streams
	reading bool  // a goroutine holds the read token
	waiters int   // streams waiting while someone else reads
	// body pumps waiting for room while someone else reads
	pumpWaiters int
}

// clientStream is one request's side of the connection.
type clientStream struct {
	id uint32
	// Guarded by the connection's mu:
	frames  []frame
	ready   chan struct{} // (1) a frame came, the read token is free, or the connection ended
	waiting bool          // blocked on ready while someone else reads
	closed  bool          // forgotten (close)
	// pumpWaiting: the stream's body pump waits for room while someone else reads
	pumpWaiting bool
	// A streamed request body's pacing (granted is nil for inline bodies):
	credit   int                // body bytes the server lets the pump send
	granted  chan struct{}      // (1) credit grew, or the stream or the connection ended
	stopPump context.CancelFunc // cancels the pump's context (set before the pump starts)
}

type frame struct {
	t frameType
	p []byte
}

func (c *clientConn) usable() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err == nil && !c.retiredLocked()
}

// open starts a stream, unless the connection cannot take one; streamed
// tells that its request body will stream.
func (c *clientConn) open(streamed bool) (*clientStream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.retiredLocked() {
		return nil, ErrNotSent
	}
	c.lastID++
	s := &clientStream{id: c.lastID, ready: make(chan struct{}, 1)}
	if streamed {
		s.granted = make(chan struct{}, 1)
	}
	c.streams[s.id] = s
	c.w.streams.Store(int32(len(c.streams)))
	return s, nil
}

// close forgets a stream; cancel also tells the server to stop its handler.
// A connection that takes no new streams is closed with its last one.
func (c *clientConn) close(s *clientStream, cancel bool) {
	c.mu.Lock()
	_, open := c.streams[s.id]
	delete(c.streams, s.id)
	s.closed = true
	stop := s.stopPump
	if s.granted != nil {
		signal(s.granted) // the pump stops
	}
	c.w.streams.Store(int32(len(c.streams)))
	last := c.retiredLocked() && len(c.streams) == 0 && c.err == nil
	c.mu.Unlock()
	if stop != nil {
		stop() // interrupts the pump's read of the connection, if it reads
	}
	if open && cancel && !last {
		_ = c.w.sendFrame(frameCancel, s.id)
	}
	if last {
		c.shut()
	}
}

// retiredLocked reports whether the connection takes no new streams.
func (c *clientConn) retiredLocked() bool { return c.refused || c.lastID == math.MaxUint32 }

// shut closes a retired connection whose streams are done.
func (c *clientConn) shut() {
	_ = c.c.Close()
	c.mu.Lock()
	if c.err == nil {
		c.err = errConnEnded
	}
	c.mu.Unlock()
	c.pool.forget(c)
}

// Retire stops new requests to addr from using the connection they share
// now (the server went away from the routing table): it closes once the
// requests on it are done, and a later request to addr dials anew.
func (p *Pool) Retire(addr string) {
	p.mu.Lock()
	e := p.addrs[addr]
	p.mu.Unlock()
	if e == nil {
		return
	}
	c := e.conn.Load()
	if c == nil {
		return
	}
	c.mu.Lock()
	c.refused = true
	idle := len(c.streams) == 0 && c.err == nil
	c.mu.Unlock()
	if idle {
		c.shut()
	}
}

// Reading: there is no reader goroutine. A request waiting for its
// answer reads the connection itself when nobody else does (it holds the
// read token), hands every frame it reads to its stream, and passes the
// token to another waiting request once its own frame came. A lone request
// thus reads its answer with no hand-off between goroutines; under load one
// read takes in the answers of several requests.

// nextFrame waits for the stream's next frame.
func (c *clientConn) nextFrame(ctx context.Context, s *clientStream) (frame, error) {
	for {
		c.mu.Lock()
		if len(s.frames) > 0 {
			f := s.frames[0]
			s.frames[0] = frame{}
			s.frames = s.frames[1:]
			if !c.reading {
				// A token passed to this stream would be lost with its
				// wake-up, which the frame's own wake-up may have absorbed.
				c.passTokenLocked()
			}
			c.mu.Unlock()
			return f, nil
		}
		if c.err != nil {
			err := c.err
			c.mu.Unlock()
			return frame{}, err
		}
		if !c.reading {
			c.reading = true
			c.mu.Unlock()
			if err := c.lead(ctx, s, false); err != nil {
				return frame{}, err
			}
			continue
		}
		s.waiting = true
		c.waiters++
		c.mu.Unlock()
		select {
		case <-s.ready:
		case <-ctx.Done():
		}
		c.mu.Lock()
		s.waiting = false
		c.waiters--
		err := ctx.Err()
		if err != nil && !c.reading {
			c.passTokenLocked() // the token may have been passed to this stream
		}
		c.mu.Unlock()
		if err != nil {
			return frame{}, err
		}
	}
}

// passTokenLocked wakes a waiting stream, or else a waiting body pump, to
// take the free read token.
func (c *clientConn) passTokenLocked() {
	if c.waiters == 0 && c.pumpWaiters == 0 {
		return
	}
	for _, w := range c.streams {
		if w.waiting {
			signal(w.ready)
			return
		}
	}
	for _, w := range c.streams {
		if w.pumpWaiting {
			signal(w.granted)
			return
		}
	}
}

// lead reads frames with the read token until one for s came (or the
// connection ended), then passes the token on. A cancelled ctx interrupts
// its read (a read deadline), and it returns ctx's error: the frame it was
// reading is kept for the next reader.
//
// forPump: the reader is s's body pump, waiting for room to send: it reads
// until a window for s came or s closed, and hands every frame on,
// s's own to s's response reader.
func (c *clientConn) lead(ctx context.Context, s *clientStream, forPump bool) error {
	stop := func() bool { return true }
	var interrupted chan struct{}
	if ctx.Done() != nil {
		interrupted = make(chan struct{})
		stop = context.AfterFunc(ctx, func() {
			_ = c.c.SetReadDeadline(time.Unix(1, 0))
			close(interrupted)
		})
	}
	// done undoes an interrupt before the token goes to another reader.
	done := func() {
		if !stop() {
			<-interrupted
			_ = c.c.SetReadDeadline(time.Time{})
		}
	}
	// release hands the token on (c.mu held).
	release := func() {
		c.mu.Unlock()
		done()
		c.mu.Lock()
		c.reading = false
		c.passTokenLocked()
		c.mu.Unlock()
	}
	for {
		t, id, p, err := c.fr.next()
		if err != nil && ctx.Err() != nil && errors.Is(err, os.ErrDeadlineExceeded) {
			c.mu.Lock()
			release()
			return ctx.Err()
		}
		if err == nil && !fromServer(t) {
			err = fmt.Errorf("%w: unexpected frame type %d from a server", errProtocol, t)
		}
		if err == nil && t == frameWindow {
			// Room for more of a streamed request body: the pump's, not a
			// frame of the response.
			if err = c.grant(id, p); err == nil {
				if forPump && id == s.id {
					c.mu.Lock()
					release()
					return nil
				}
				continue
			}
		}
		if err != nil {
			done()
			c.end(err)
			return nil
		}
		c.mu.Lock()
		if t == frameRefused {
			c.refused = true
		}
		to := c.streams[id]
		if to != nil {
			to.frames = append(to.frames, frame{t, p})
			if to != s || forPump {
				signal(to.ready)
			}
		}
		if (to == s && !forPump) || (forPump && s.closed) {
			release()
			return nil
		}
		c.mu.Unlock()
	}
}

// grant adds a window frame's bytes to its stream's body credit.
func (c *clientConn) grant(id uint32, p []byte) error {
	n, k := binary.Uvarint(p)
	if k <= 0 || k != len(p) || n > MaxFrame {
		return fmt.Errorf("%w: bad window frame", errProtocol)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.streams[id]
	if s == nil || s.granted == nil {
		return nil // a stream that ended meanwhile, or one with its body inline: nothing to pace
	}
	s.credit += int(n)
	signal(s.granted)
	return nil
}

// end closes the connection after a read failed and wakes every stream.
func (c *clientConn) end(err error) {
	_ = c.c.Close()
	if errors.Is(err, io.EOF) {
		err = errConnEnded
	}
	c.mu.Lock()
	c.err = err
	c.reading = false
	for _, s := range c.streams {
		signal(s.ready)
		if s.granted != nil {
			signal(s.granted)
		}
	}
	c.mu.Unlock()
	c.pool.forget(c)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// errConnEnded is what a stream sees when the server closed the connection.
var errConnEnded = errors.New("hop: the server closed the connection")

// RoundTrip sends req to the server at addr ("host:port", or "unix:" and a
// socket's path) and returns its response; the caller reads the body to its
// end and closes it. The request uses req's method, URL path and query, Host
// (or URL.Host), header and body; cancelling its context cancels the
// handler's context on the server.
//
// A NewBody goes in the request's frame. Any other body streams: RoundTrip
// reads it as the handler reads (it goes on after the response's head came,
// until the response ends) and does not close it. A request that failed with
// ErrNotSent read none of it and may be sent again with the same body; one
// that failed after reading some fails with ErrBodySent.
//
// A response whose handler took the stream over (see Tunnel) carries the
// handler's raw bytes, and the request's body carries the caller's to it.
func (p *Pool) RoundTrip(req *http.Request, addr string) (*http.Response, error) {
	var body []byte
	var stream io.Reader
	if bb, ok := req.Body.(*bytesBody); ok {
		body = bb.b[bb.off:]
	} else if req.Body != nil && req.Body != http.NoBody {
		stream = req.Body
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	uri := req.URL.RequestURI()
	for attempt := 0; ; attempt++ {
		c, reused, err := p.conn(addr)
		if err != nil {
			return nil, err
		}
		resp, err := c.roundTrip(req, host, uri, body, stream)
		// A connection that ended before the request went out: try a fresh
		// one (a server that refused the request is going away: not there).
		if errors.Is(err, ErrNotSent) && !errors.Is(err, errRefused) && reused && attempt == 0 {
			continue
		}
		return resp, err
	}
}

func (c *clientConn) roundTrip(req *http.Request, host, uri string, body []byte, stream io.Reader) (*http.Response, error) {
	s, err := c.open(stream != nil)
	if err != nil {
		return nil, err
	}
	err = c.w.send(func(b []byte) ([]byte, error) {
		start := len(b)
		b = append(b, make([]byte, frameHeaderLen)...)
		t := frameRequest
		if stream != nil {
			t = frameOpen
			b = encodeOpen(b, req.Method, uri, host, req.Header, req.ContentLength)
		} else {
			b = encodeRequest(b, req.Method, uri, host, req.Header)
			b = append(b, body...)
		}
		n := len(b) - start - frameHeaderLen
		if n > MaxFrame {
			return b[:start], fmt.Errorf("%w: a request of %d bytes (max %d)", errFrameTooLarge, n, MaxFrame)
		}
		h := frameHeader(t, s.id, n)
		copy(b[start:], h[:])
		return b, nil
	})
	if err != nil {
		c.close(s, false)
		if errors.Is(err, errFrameTooLarge) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %w", ErrNotSent, err)
	}
	ctx := req.Context()
	var consumed atomic.Bool
	if stream != nil {
		pctx, stop := context.WithCancel(ctx)
		c.mu.Lock()
		s.stopPump = stop
		closed := s.closed
		c.mu.Unlock()
		if closed {
			stop()
		}
		go c.pump(pctx, s, stream, &consumed)
	}
	// failed closes the stream and says whether the body went out in part
	// (close stops the pump first, so consumed is final after it).
	failed := func(cancel bool, err error) error {
		c.close(s, cancel)
		if consumed.Load() && errors.Is(err, ErrNotSent) {
			return fmt.Errorf("%w: %w", ErrBodySent, err)
		}
		return err
	}
	f, err := c.nextFrame(ctx, s)
	if err == nil && f.t == frameAbort && ctx.Err() != nil {
		err = ctx.Err() // the server's answer to our cancel
	}
	if err != nil {
		var op *net.OpError
		if errors.Is(err, errConnEnded) || errors.As(err, &op) {
			// The connection ended before any answer: most likely the
			// server closed it while idle, before the request came.
			err = fmt.Errorf("%w: %w", ErrNotSent, err)
		}
		return nil, failed(true, err)
	}
	switch f.t {
	case frameFull:
		c.close(s, false)
		code, h, b, err := decodeStatus(f.p)
		if err != nil {
			return nil, err
		}
		return response(req, code, h, &bytesBody{b: b}, int64(len(b))), nil
	case frameHead:
		code, h, _, err := decodeStatus(f.p)
		if err != nil {
			return nil, failed(true, err)
		}
		return response(req, code, h, &streamBody{ctx: ctx, c: c, s: s}, -1), nil
	case frameTunnel:
		code, h, err := decodeTunnel(f.p)
		if err != nil {
			return nil, failed(true, err)
		}
		tb := &streamBody{ctx: ctx, c: c, s: s, tunnel: true, headed: code != 0}
		if code == 0 {
			code, h = http.StatusSwitchingProtocols, http.Header{}
		}
		return response(req, code, h, tb, -1), nil
	case frameRefused:
		return nil, failed(false, errRefused)
	case frameAbort:
		return nil, failed(false, fmt.Errorf("hop: the server broke the response off: %s", f.p))
	default:
		return nil, failed(true, fmt.Errorf("%w: frame type %d before a response's head", errProtocol, f.t))
	}
}

// Tunnel reports whether resp comes from a handler that took its stream over
// (Hijack): its body is the handler's raw bytes, and the request's body is
// what reaches the handler. headed tells that the handler set a status and
// header (resp's), which the caller sends on before the raw bytes; without
// them the handler writes its own status line.
func Tunnel(resp *http.Response) (ok, headed bool) {
	b, is := resp.Body.(*streamBody)
	if !is || !b.tunnel {
		return false, false
	}
	return true, b.headed
}

// Buffered reports whether a body RoundTrip returned has bytes at hand that
// a Read takes without waiting (a relay flushes what it wrote when not).
func Buffered(body io.Reader) bool {
	b, ok := body.(*streamBody)
	if !ok {
		return true // in memory
	}
	if len(b.cur) > 0 {
		return true
	}
	b.c.mu.Lock()
	defer b.c.mu.Unlock()
	return len(b.s.frames) > 0
}

func response(req *http.Request, code int, h http.Header, body io.ReadCloser, n int64) *http.Response {
	return &http.Response{Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body, ContentLength: n, Request: req}
}

// streamBody reads a streamed response's data frames and grants the server
// more window as it goes.
type streamBody struct {
	ctx    context.Context
	c      *clientConn
	s      *clientStream
	tunnel bool // the handler took the stream over
	headed bool // ... after setting a status and header
	cur    []byte
	taken  int   // data bytes read since the last grant
	err    error // io.EOF after the end frame
	closed bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		f, err := b.c.nextFrame(b.ctx, b.s)
		switch {
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
		case f.t == frameData:
			b.cur = f.p
			if b.taken += len(f.p); b.taken >= Window/2 {
				grant := binary.AppendUvarint(nil, uint64(b.taken))
				b.taken = 0
				_ = b.c.w.sendFrame(frameWindow, b.s.id, grant)
			}
		case f.t == frameEnd:
			b.err = io.EOF
			b.c.close(b.s, false)
		case f.t == frameAbort:
			b.err = fmt.Errorf("hop: the server broke the response off: %s", f.p)
			b.c.close(b.s, false)
		default:
			b.err = fmt.Errorf("%w: unexpected frame type %d in a response body", errProtocol, f.t)
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// Close forgets the stream; before its end, the server's handler is cancelled.
func (b *streamBody) Close() error {
	if !b.closed {
		b.closed = true
		b.c.close(b.s, true)
	}
	return nil
}
