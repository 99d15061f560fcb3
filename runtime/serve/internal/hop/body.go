package hop

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync/atomic"
)

// Streamed request bodies: the server side keeps what the client's body
// frames brought until the handler reads it, and grants the client room for
// more as the handler reads, so a stream holds at most Window bytes of body
// in the server's memory however large the upload; the client side (pump)
// reads the caller's body only as far as the server granted.

// ErrBodySent means a request failed after some of its streamed body went
// out: it cannot be sent again (the body is consumed), unlike ErrNotSent.
var ErrBodySent = errors.New("hop: the request failed after its body was read in part")

// maxBreakMessage bounds the text of a body-end frame kept in an error.
const maxBreakMessage = 256

// inBody is a streamed request body on the server side, guarded by the
// connection's mu.
type inBody struct {
	chunks  [][]byte      // what came and the handler has not read
	credit  int           // bytes the client may still send (granted, not yet come)
	taken   int           // bytes the handler read since the last grant
	started bool          // the first window went out (the handler's first read)
	ended   bool          // the body-end frame came
	err     error         // what reads return after the chunks: io.EOF, or the break
	ready   chan struct{} // (1) a chunk or the end came, or the stream is gone
}

// takeBody files a body or body-end frame with its stream; frames of a
// stream that ended are dropped (they were on their way when it ended).
func (sc *serverConn) takeBody(t frameType, id uint32, p []byte) error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	st := sc.streams[id]
	if st == nil {
		return nil
	}
	b := st.body
	if b == nil || b.ended {
		return fmt.Errorf("%w: body frame on stream %d, which has no streamed body open", errProtocol, id)
	}
	if t == frameBody {
		if len(p) > b.credit {
			return fmt.Errorf("%w: %d body bytes on stream %d past its window (%d)", errProtocol, len(p), id, b.credit)
		}
		b.credit -= len(p)
		if len(p) > 0 {
			b.chunks = append(b.chunks, p)
		}
	} else {
		b.ended, b.err = true, io.EOF
		if len(p) > 0 {
			b.err = fmt.Errorf("%w: the request body broke off: %s", io.ErrUnexpectedEOF, p[:min(len(p), maxBreakMessage)])
		}
	}
	signal(b.ready)
	return nil
}

// bodyReader is a handler's r.Body for a streamed request body.
type bodyReader struct {
	sc     *serverConn
	st     *serverStream
	id     uint32
	closed atomic.Bool
}

func (r *bodyReader) Read(p []byte) (int, error) {
	if r.closed.Load() {
		return 0, http.ErrBodyReadAfterClose
	}
	return r.read(p, nil)
}

// Close makes later reads fail; what the client still sends is dropped with
// the stream.
func (r *bodyReader) Close() error {
	r.closed.Store(true)
	return nil
}

// read waits for body bytes, the body's end, the stream's end, or expire
// (a tunnel's read deadline; nil: none). The first read grants the client
// its first window; later ones grant what the handler took, half a window
// at a time.
func (r *bodyReader) read(p []byte, expire <-chan struct{}) (int, error) {
	sc, st, b := r.sc, r.st, r.st.body
	grant := 0
	sc.mu.Lock()
	if !b.started {
		b.started = true
		b.credit += Window
		grant = Window
	}
	for len(b.chunks) == 0 && !b.ended && !st.gone {
		sc.mu.Unlock()
		if grant > 0 {
			r.grant(grant)
			grant = 0
		}
		select {
		case <-b.ready:
		case <-expire:
			return 0, os.ErrDeadlineExceeded
		}
		sc.mu.Lock()
	}
	n := 0
	var err error
	switch {
	case len(b.chunks) > 0:
		n = copy(p, b.chunks[0])
		if n == len(b.chunks[0]) {
			b.chunks[0] = nil
			b.chunks = b.chunks[1:]
		} else {
			b.chunks[0] = b.chunks[0][n:]
		}
		b.taken += n
		if b.taken >= Window/2 && !b.ended {
			grant += b.taken
			b.credit += b.taken
			b.taken = 0
		}
	case b.ended:
		err = b.err
	default:
		err = errStreamGone
	}
	sc.mu.Unlock()
	if grant > 0 {
		r.grant(grant)
	}
	return n, err
}

func (r *bodyReader) grant(n int) {
	_ = r.sc.w.sendFrame(frameWindow, r.id, binary.AppendUvarint(nil, uint64(n)))
}

// pumpBuffer is how much of a body the client reads per body frame.
const pumpBuffer = 32 << 10

// pump sends body as body frames as far as the server grants, then a
// body-end frame (with the read error's text if the body broke off). It
// stops when the stream is closed, the connection ends or ctx is done; it
// marks consumed before its first read, under the connection's lock, so that
// a request that failed can tell whether its body may be sent again.
//
// Waiting for room, it reads the connection itself when nobody else does
// (the grant it waits for comes in a frame someone has to read: the
// caller may be busy writing the body, not reading the response). close
// cancels its context (s.stopPump), which interrupts such a read.
func (c *clientConn) pump(ctx context.Context, s *clientStream, body io.Reader, consumed *atomic.Bool) {
	defer s.stopPump()
	buf := make([]byte, pumpBuffer)
	for {
		c.mu.Lock()
		for s.credit == 0 && !s.closed && c.err == nil && ctx.Err() == nil {
			if !c.reading {
				c.reading = true
				c.mu.Unlock()
				_ = c.lead(ctx, s, true)
				c.mu.Lock()
				continue
			}
			s.pumpWaiting = true
			c.pumpWaiters++
			c.mu.Unlock()
			select {
			case <-s.granted:
			case <-ctx.Done():
			}
			c.mu.Lock()
			s.pumpWaiting = false
			c.pumpWaiters--
			if ctx.Err() != nil && !c.reading {
				c.passTokenLocked() // the token may have been passed to this pump
			}
		}
		if s.closed || c.err != nil || ctx.Err() != nil {
			c.mu.Unlock()
			return
		}
		consumed.Store(true)
		n := min(s.credit, len(buf))
		c.mu.Unlock()
		k, err := body.Read(buf[:n])
		if k > 0 {
			c.mu.Lock()
			s.credit -= k
			c.mu.Unlock()
			if c.w.sendFrame(frameBody, s.id, buf[:k]) != nil {
				return
			}
		}
		switch {
		case errors.Is(err, io.EOF):
			_ = c.w.sendFrame(frameBodyEnd, s.id)
			return
		case err != nil:
			msg := err.Error()
			if msg == "" {
				msg = "read error"
			}
			_ = c.w.sendFrame(frameBodyEnd, s.id, []byte(msg[:min(len(msg), maxBreakMessage)]))
			return
		}
	}
}
