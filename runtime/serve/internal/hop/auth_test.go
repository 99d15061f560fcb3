package hop

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
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
