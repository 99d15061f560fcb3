package router

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A minimal HTTP/1.1 client for the proxy -> replica hop: keep-alive
// connections pooled per replica, the request written and the response read
// in the caller's goroutine (net/http's Transport hands every request to two
// goroutines per connection, which costs as much as the hop itself).

type pconn struct {
	addr string
	c    net.Conn
	br   *bufio.Reader
	bw   *bufio.Writer
	// deadline: the connection has a deadline set (clearing one that is not
	// set costs a call per request for nothing).
	deadline bool
}

type connPool struct {
	mu   sync.Mutex
	idle map[string][]*pconn
}

var pool = &connPool{idle: map[string][]*pconn{}}

// maxIdlePerReplica bounds the idle connections kept per replica.
const maxIdlePerReplica = 256

func (p *connPool) get(addr string) (*pconn, bool, error) {
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
	c, err := net.DialTimeout(network, target, 2*time.Second)
	if err != nil {
		return nil, false, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
		_ = tc.SetKeepAlive(true)
	}
	return &pconn{addr: addr, c: c, br: bufio.NewReaderSize(c, 16<<10), bw: bufio.NewWriterSize(c, 8<<10)}, false, nil
}

func (p *connPool) put(c *pconn) {
	p.mu.Lock()
	if l := p.idle[c.addr]; len(l) < maxIdlePerReplica {
		p.idle[c.addr] = append(l, c)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = c.c.Close()
}

// errNotSent means a reused connection was found closed before any response
// byte: the replica did not process the request.
var errNotSent = errors.New("connection closed before the response")

// roundTrip sends req to addr over a pooled connection. The response body
// returns the connection to the pool once read to the end and closed.
func roundTrip(req *http.Request, addr string) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		c, reused, err := pool.get(addr)
		if err != nil {
			return nil, err
		}
		resp, err := c.do(req)
		if err == nil {
			return resp, nil
		}
		_ = c.c.Close()
		// A reused connection the replica closed while idle: try a fresh one.
		if reused && attempt == 0 && errors.Is(err, errNotSent) {
			if req.Body != nil && req.Body != http.NoBody {
				if req.GetBody == nil {
					return nil, err
				}
				b, gerr := req.GetBody()
				if gerr != nil {
					return nil, err
				}
				req.Body = b
			}
			continue
		}
		return nil, err
	}
}

func (c *pconn) do(req *http.Request) (*http.Response, error) {
	if dl, ok := req.Context().Deadline(); ok {
		_ = c.c.SetDeadline(dl)
		c.deadline = true
	} else if c.deadline {
		_ = c.c.SetDeadline(time.Time{})
		c.deadline = false
	}
	if err := writeRequest(c.bw, req); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	// Cancellation of the request closes the connection.
	stop := func() bool { return true }
	if ctx := req.Context(); ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { _ = c.c.Close() })
	}
	if _, err := c.br.Peek(1); err != nil {
		stop()
		if err == io.EOF || errors.Is(err, net.ErrClosed) || isReset(err) {
			return nil, errNotSent
		}
		return nil, err
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		stop()
		return nil, err
	}
	resp.Body = &pooledBody{rc: resp.Body, c: c, stop: stop, keep: !resp.Close}
	return resp, nil
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

type pooledBody struct {
	rc   io.ReadCloser
	c    *pconn
	stop func() bool
	keep bool
	eof  bool
	done bool
}

func (b *pooledBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *pooledBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	err := b.rc.Close() // drains what is left of the body
	if b.stop() && b.keep && err == nil && b.c.br.Buffered() == 0 {
		pool.put(b.c)
	} else {
		_ = b.c.c.Close()
	}
	return nil
}

// writeRequest writes req in HTTP/1.1 wire form; the body is sent with its
// Content-Length when known, else chunked (req.Write would do the same with
// more allocation: sorted headers, a User-Agent).
func writeRequest(w *bufio.Writer, req *http.Request) error {
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength <= 0 {
		return req.Write(w)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vv := range req.Header {
		if k == "Host" || k == "Content-Length" {
			continue
		}
		for _, v := range vv {
			w.WriteString(k)
			w.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = headerValue.Replace(v)
			}
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if req.ContentLength > 0 {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
		_, err := io.Copy(w, req.Body)
		_ = req.Body.Close()
		return err
	}
	_, err := w.WriteString("\r\n")
	return err
}

// headerValue keeps a header value on its line.
var headerValue = strings.NewReplacer("\r\n", " ", "\r", " ", "\n", " ")
