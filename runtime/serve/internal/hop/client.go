package hop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrNotSent means a pooled connection turned out closed before the
// request reached the server: it is safe to send again.
var ErrNotSent = errors.New("hop: connection closed before the request was taken")

// Pool keeps idle connections per address and sends requests over them.
type Pool struct {
	// DialTimeout bounds a new connection (default 2s).
	DialTimeout time.Duration
	// MaxIdle bounds the idle connections kept per address (default 256).
	MaxIdle int

	mu   sync.Mutex
	idle map[string][]*clientConn
}

type clientConn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	next uint32 // the last stream id used
	// deadline: the connection has a deadline set (clearing one that is not
	// set costs a call per request for nothing).
	deadline bool
	scratch  []byte
}

func (p *Pool) get(addr string) (*clientConn, bool, error) {
	p.mu.Lock()
	if l := p.idle[addr]; len(l) > 0 {
		c := l[len(l)-1]
		p.idle[addr] = l[:len(l)-1]
		p.mu.Unlock()
		return c, true, nil
	}
	p.mu.Unlock()
	network, target := "tcp", addr
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, target = "unix", path
	}
	timeout := p.DialTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	c, err := net.DialTimeout(network, target, timeout)
	if err != nil {
		return nil, false, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
	}
	cc := &clientConn{addr: addr, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 16<<10)}
	_, _ = cc.bw.WriteString(Preface) // goes out with the first request
	return cc, false, nil
}

func (p *Pool) put(c *clientConn) {
	limit := p.MaxIdle
	if limit == 0 {
		limit = 256
	}
	p.mu.Lock()
	if p.idle == nil {
		p.idle = map[string][]*clientConn{}
	}
	if l := p.idle[c.addr]; len(l) < limit {
		p.idle[c.addr] = append(l, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = c.c.Close()
}

// RoundTrip sends req to the server at addr ("host:port", or "unix:" and a
// socket's path) and returns its response; the caller reads the body to its
// end and closes it, which returns the connection to the pool. The request
// uses req's method, URL path and query, Host (or URL.Host), header and
// body (read whole first; a NewBody is taken as it is); cancelling its
// context closes the connection, which cancels the handler's context on the
// server.
func (p *Pool) RoundTrip(req *http.Request, addr string) (*http.Response, error) {
	var body []byte
	if bb, ok := req.Body.(*bytesBody); ok {
		body = bb.b[bb.off:]
	} else if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(io.LimitReader(req.Body, MaxFrame+1))
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
		body = b
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := p.get(addr)
		if err != nil {
			return nil, err
		}
		resp, err := c.do(p, req, body)
		if err == nil {
			return resp, nil
		}
		_ = c.c.Close()
		// A reused connection the server closed while it was idle: try a fresh one.
		if reused && attempt == 0 && errors.Is(err, ErrNotSent) {
			continue
		}
		return nil, err
	}
}

func (c *clientConn) do(p *Pool, req *http.Request, body []byte) (*http.Response, error) {
	ctx := req.Context()
	if dl, ok := ctx.Deadline(); ok {
		_ = c.c.SetDeadline(dl)
		c.deadline = true
	} else if c.deadline {
		_ = c.c.SetDeadline(time.Time{})
		c.deadline = false
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	c.next++
	id := c.next
	c.scratch = encodeRequest(c.scratch[:0], req.Method, req.URL.RequestURI(), host, req.Header)
	if err := writeFrame(c.bw, frameRequest, id, c.scratch, body); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = c.c.Close() })
	}
	t, sid, payload, err := readFrame(c.br)
	if err != nil {
		stop()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return nil, ErrNotSent
		}
		return nil, err
	}
	if sid != id {
		stop()
		return nil, fmt.Errorf("%w: answer for stream %d, want %d", errProtocol, sid, id)
	}
	switch t {
	case frameFull:
		code, h, b, err := decodeStatus(payload)
		if err != nil {
			stop()
			return nil, err
		}
		if stop() {
			p.put(c)
		} else {
			_ = c.c.Close()
		}
		return response(req, code, h, &bytesBody{b: b}, int64(len(b))), nil
	case frameHead:
		code, h, _, err := decodeStatus(payload)
		if err != nil {
			stop()
			return nil, err
		}
		return response(req, code, h, &streamBody{p: p, c: c, id: id, stop: stop}, -1), nil
	case frameAbort:
		stop()
		return nil, fmt.Errorf("hop: the server broke the response off: %s", payload)
	default:
		stop()
		return nil, fmt.Errorf("%w: unexpected frame type %d from a server", errProtocol, t)
	}
}

func response(req *http.Request, code int, h http.Header, body io.ReadCloser, n int64) *http.Response {
	return &http.Response{Status: strconv.Itoa(code) + " " + http.StatusText(code), StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: h, Body: body, ContentLength: n, Request: req}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

// streamBody reads a streamed response's data frames.
type streamBody struct {
	p    *Pool
	c    *clientConn
	id   uint32
	stop func() bool
	cur  []byte
	err  error // io.EOF after the end frame
	done bool
}

func (b *streamBody) Read(p []byte) (int, error) {
	for len(b.cur) == 0 {
		if b.err != nil {
			return 0, b.err
		}
		t, sid, payload, err := readFrame(b.c.br)
		switch {
		case err != nil:
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			b.err = err
		case sid != b.id:
			b.err = fmt.Errorf("%w: data for stream %d, want %d", errProtocol, sid, b.id)
		case t == frameData:
			b.cur = payload
		case t == frameEnd:
			b.err = io.EOF
		case t == frameAbort:
			b.err = fmt.Errorf("hop: the server broke the response off: %s", payload)
		default:
			b.err = fmt.Errorf("%w: unexpected frame type %d in a response body", errProtocol, t)
		}
	}
	n := copy(p, b.cur)
	b.cur = b.cur[n:]
	return n, nil
}

// Close returns the connection to the pool after a complete body, and
// closes it otherwise (the server may still be sending).
func (b *streamBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	if b.stop() && errors.Is(b.err, io.EOF) && len(b.cur) == 0 {
		b.p.put(b.c)
	} else {
		_ = b.c.c.Close()
	}
	return nil
}
