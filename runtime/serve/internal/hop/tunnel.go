package hop

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Tunnels: a handler that takes its stream over (http.Hijacker, as WebSocket
// servers do after they set 101 Switching Protocols) gets a net.Conn whose
// reads are the request's streamed body and whose writes are the stream's
// data frames. The client learns of it from a tunnel frame carrying the
// status and header the handler set (if any), and relays raw bytes both
// ways from then on: to the handler as body frames, from it as data frames.

// Hijack takes the stream over. The response must not have started.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.tun != nil {
		return nil, nil, http.ErrHijacked
	}
	if w.headSent {
		return nil, nil, errors.New("hop: the response has started; the stream cannot be taken over")
	}
	if w.err != nil {
		return nil, nil, w.err
	}
	// The status the handler set is the tunnel's (0: none, the handler
	// writes its own status line); a body it wrote but did not send
	// follows as the tunnel's first bytes.
	if err := w.sc.w.sendFrame(frameTunnel, w.id, encodeStatus(nil, w.status, w.header)); err != nil {
		w.err = err
		return nil, nil, err
	}
	w.headSent = true
	t := &tunnelConn{w: w}
	w.tun = t
	if len(w.buf) > 0 {
		if _, err := w.sendData(w.buf, nil); err != nil {
			return nil, nil, err
		}
		w.buf = nil
	}
	return t, bufio.NewReadWriter(bufio.NewReader(t), bufio.NewWriter(t)), nil
}

// tunnelConn is a taken-over stream seen as a connection.
type tunnelConn struct {
	w      *responseWriter
	rd, wd deadline
	once   sync.Once
	closed atomic.Bool
}

func (c *tunnelConn) Read(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	br, ok := c.w.req.Body.(*bodyReader)
	if !ok {
		// The request came with its body inline: that body is all the
		// client sends.
		return c.w.req.Body.Read(p)
	}
	n, err := br.read(p, c.rd.wait())
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

func (c *tunnelConn) Write(p []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed
	}
	n, err := c.w.sendData(p, c.wd.wait())
	if err != nil && c.closed.Load() {
		err = net.ErrClosed
	}
	return n, err
}

// Close ends the stream: the client's reader sees the end of the raw bytes.
func (c *tunnelConn) Close() error {
	c.end(frameEnd, nil)
	return nil
}

// breakOff ends the stream with an abort frame (the handler panicked).
func (c *tunnelConn) breakOff(msg string) { c.end(frameAbort, []byte(msg)) }

func (c *tunnelConn) end(t frameType, payload []byte) {
	c.once.Do(func() {
		c.closed.Store(true)
		sc := c.w.sc
		sc.mu.Lock()
		gone := c.w.st.gone
		c.w.st.goneLocked() // wakes a read or write in progress
		sc.mu.Unlock()
		if !gone {
			_ = sc.w.sendFrame(t, c.w.id, payload)
		}
		sc.forget(c.w.id)
		c.rd.set(time.Time{})
		c.wd.set(time.Time{})
	})
}

func (c *tunnelConn) LocalAddr() net.Addr  { return c.w.sc.c.LocalAddr() }
func (c *tunnelConn) RemoteAddr() net.Addr { return c.w.sc.c.RemoteAddr() }

func (c *tunnelConn) SetDeadline(t time.Time) error {
	c.rd.set(t)
	c.wd.set(t)
	return nil
}

func (c *tunnelConn) SetReadDeadline(t time.Time) error  { c.rd.set(t); return nil }
func (c *tunnelConn) SetWriteDeadline(t time.Time) error { c.wd.set(t); return nil }

// deadline is a read or write deadline of a tunnel: wait's channel is
// closed once it passed (nil, which never fires, when none is set). Each
// deadline set gets a channel of its own, so a timer that fires while a new
// deadline replaces it closes only the channel it was made for.
type deadline struct {
	mu    sync.Mutex
	timer *time.Timer
	ch    chan struct{}
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.ch = nil
	if t.IsZero() {
		return
	}
	ch := make(chan struct{})
	d.ch = ch
	dur := time.Until(t)
	if dur <= 0 {
		close(ch)
		return
	}
	d.timer = time.AfterFunc(dur, func() { close(ch) })
}

func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

var _ net.Conn = (*tunnelConn)(nil)
