package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/serve/internal/hop"
)

// relayStream copies a streamed response to the client as it comes: what
// the handler flushed is flushed on at once, unless more of it is already at
// hand (then it goes out with that, so a large streamed body makes full
// writes, not a system call per frame). A response the handler or its
// replica broke off is broken off for the client too (no final chunk).
func relayStream(w http.ResponseWriter, body io.Reader) {
	rc := http.NewResponseController(w)
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	if !hop.Buffered(body) {
		_ = rc.Flush() // the head now: an event stream's client waits for it
	}
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if !hop.Buffered(body) && rc.Flush() != nil {
				return
			}
		}
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			panic(http.ErrAbortHandler)
		}
	}
}

// isUpgrade reports whether in asks to switch protocols (an Upgrade header
// and the "upgrade" token in Connection), as a WebSocket handshake does.
func isUpgrade(in *http.Request) bool {
	if in.Header.Get("Upgrade") == "" {
		return false
	}
	for _, v := range in.Header["Connection"] {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// tunnelLinger is how long a tunnel's handler has, after the client's side
// ended, to end its own before its stream is cancelled.
const tunnelLinger = 2 * time.Second

// upgrade is an Upgrade request in flight: the pipe whose reader is the
// request's streamed body, and a context that ends the stream.
type upgrade struct {
	ctx    context.Context
	cancel context.CancelFunc
	body   *io.PipeReader
	pw     *io.PipeWriter
}

func newUpgrade(parent context.Context) *upgrade {
	ctx, cancel := context.WithCancel(parent)
	pr, pw := io.Pipe()
	return &upgrade{ctx: ctx, cancel: cancel, body: pr, pw: pw}
}

func (u *upgrade) close() {
	_ = u.pw.Close()
	u.cancel()
}

// relay takes the client's connection over and relays raw bytes both ways
// between it and the handler that took its stream over, until the handler
// ends its side (or tunnelLinger after the client ended its own). headed:
// the handler set a status and header (resp's), sent first, as its own HTTP
// server would have sent them before switching protocols.
func (u *upgrade) relay(w http.ResponseWriter, resp *http.Response, headed bool, logger *log.Logger) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		logger.Printf("serve proxy: upgrade %s: %v", resp.Request.URL.Path, err)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Time{}) // net/http's header read deadline no longer applies
	if headed {
		fmt.Fprintf(brw, "HTTP/1.1 %03d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
		_ = resp.Header.Write(brw)
		_, _ = brw.WriteString("\r\n")
	}
	if brw.Flush() != nil {
		return
	}
	go func() {
		// Client to handler; brw's reader holds what net/http read past
		// the request's header.
		_, err := io.Copy(u.pw, brw.Reader)
		_ = u.pw.CloseWithError(err)
		time.AfterFunc(tunnelLinger, u.cancel)
	}()
	// Handler to client, each piece as it comes (conn is unbuffered).
	_, _ = io.Copy(conn, resp.Body)
}
