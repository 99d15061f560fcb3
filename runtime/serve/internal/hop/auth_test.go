package hop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/auth"
)

// A server with a token takes requests only on connections that opened
// with it.
func TestConnectionsOpenWithTheToken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }), Auth: auth.NewToken("secret")}
	go s.Serve(l)
	t.Cleanup(s.Close)
	addr := l.Addr().String()
	for _, tok := range []string{"", "guess", "secre", "secret2"} {
		req, _ := http.NewRequest(http.MethodGet, "http://replica/", nil)
		if resp, err := (&Pool{Token: tok}).RoundTrip(req, addr); err == nil {
			_ = resp.Body.Close()
			t.Fatalf("token %q: answered %s", tok, resp.Status)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://replica/", nil)
	if a, body := get(t, &Pool{Token: "secret"}, addr, req); a.code != 200 || body != "ok" {
		t.Fatalf("with the token: %d %q", a.code, body)
	}
	// A token longer than any token is refused before it is read.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(append([]byte(Preface), 0xff, 0xff)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("a 64 KiB token: read %d, %v (want the connection closed)", n, err)
	}
}

// A peer that connects and says nothing is dropped after OpeningTimeout.
func TestSilentConnectionDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: waits for the opening timeout")
	}
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(OpeningTimeout + 20*time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a silent connection: %v (want EOF: the server drops it)", err)
	}
}

// A header claiming a huge frame does not make the reader allocate it:
// memory follows the bytes that arrive.
func TestClaimedLengthIsNotAllocatedUpFront(t *testing.T) {
	h := frameHeader(frameRequest, 1, MaxFrame)
	r := newFrameReader(io.MultiReader(bytes.NewReader(h[:]), strings.NewReader("abc")))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, _, _, err := r.next(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("next: %v", err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("reading a header that claims %d bytes and 3 bytes of payload allocated %d bytes", MaxFrame, d)
	}
}

// Streamed bodies and tunnels travel on the same token-opened connections:
// without the token neither reaches the handler, with it both work.
func TestStreamsAndTunnelsNeedTheToken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var reached atomic.Int32
	s := &Server{Auth: auth.NewToken("secret"), Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		if r.URL.Path == "/tunnel" {
			w.WriteHeader(http.StatusSwitchingProtocols)
			c, brw, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			defer c.Close()
			line, _ := brw.ReadString('\n')
			_, _ = io.WriteString(c, "echo "+line)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n)
	})}
	go s.Serve(l)
	t.Cleanup(s.Close)
	addr := l.Addr().String()
	upload := func(p *Pool) (string, error) {
		req, _ := http.NewRequest(http.MethodPut, "http://replica/up", io.NopCloser(bytes.NewReader(make([]byte, 1<<20))))
		resp, err := p.RoundTrip(req, addr)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	tunnel := func(p *Pool) (string, error) {
		req, _ := http.NewRequest(http.MethodGet, "http://replica/tunnel", strings.NewReader("hi\n"))
		req.ContentLength = -1
		resp, err := p.RoundTrip(req, addr)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for _, tok := range []string{"", "guess"} {
		if got, err := upload(&Pool{Token: tok}); err == nil {
			t.Errorf("token %q: an upload answered %q", tok, got)
		}
		if got, err := tunnel(&Pool{Token: tok}); err == nil {
			t.Errorf("token %q: a tunnel answered %q", tok, got)
		}
	}
	if n := reached.Load(); n != 0 {
		t.Fatalf("%d requests without the token reached the handler", n)
	}
	p := &Pool{Token: "secret"}
	if got, err := upload(p); err != nil || got != fmt.Sprint(1<<20) {
		t.Fatalf("with the token, an upload: %q %v", got, err)
	}
	if got, err := tunnel(p); err != nil || got != "echo hi\n" {
		t.Fatalf("with the token, a tunnel: %q %v", got, err)
	}
}
