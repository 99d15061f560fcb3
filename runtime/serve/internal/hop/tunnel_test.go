package hop

import (
	"bufio"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// A handler that sets 101 and takes the stream over talks raw bytes both
// ways with the client; the client learns the status and header first.
func TestHijackedStreamIsATunnel(t *testing.T) {
	ended := make(chan error, 1)
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Upgrade", "lines")
		w.Header().Set("Connection", "Upgrade")
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			ended <- err
			return
		}
		defer c.Close()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				ended <- err
				return
			}
			_, _ = brw.WriteString("echo " + line)
			_ = brw.Flush()
		}
	})
	var p Pool
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodGet, "http://x/", pr)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ok, headed := Tunnel(resp); !ok || !headed || resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Upgrade") != "lines" {
		t.Fatalf("tunnel %v headed %v status %d header %v", ok, headed, resp.StatusCode, resp.Header)
	}
	rd := bufio.NewReader(resp.Body)
	for _, line := range []string{"one\n", "two\n"} {
		_, _ = pw.Write([]byte(line))
		got, err := rd.ReadString('\n')
		if err != nil || got != "echo "+line {
			t.Fatalf("got %q %v", got, err)
		}
	}
	_ = pw.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the handler's read ended with %v, want io.EOF", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not see the client's end")
	}
	if rest, err := io.ReadAll(rd); err != nil || len(rest) != 0 {
		t.Fatalf("after the handler closed: %q %v", rest, err)
	}
	// The connection carries other requests afterwards.
	req, _ = http.NewRequest(http.MethodGet, "http://x/", strings.NewReader("three\n"))
	resp, err = p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(b) != "echo three\n" {
		t.Fatalf("second tunnel: %q", b)
	}
}

// A handler that takes the stream over without setting a status writes its
// own status line: the tunnel is not headed. The tunnel outlives the
// handler's return until it is closed, and its deadlines work.
func TestRawTunnelOutlivesItsHandler(t *testing.T) {
	deadlineErr := make(chan error, 1)
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			deadlineErr <- err
			return
		}
		go func() {
			defer c.Close()
			_, _ = io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\n\r\n")
			_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			_, err := c.Read(make([]byte, 1))
			deadlineErr <- err
			_, _ = io.WriteString(c, "bye")
		}()
	})
	var p Pool
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://x/", pr)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ok, headed := Tunnel(resp); !ok || headed {
		t.Fatalf("tunnel %v headed %v", ok, headed)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "HTTP/1.1 101 Switching Protocols\r\n\r\nbye" {
		t.Fatalf("raw bytes %q %v", b, err)
	}
	if err := <-deadlineErr; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v", err)
	}
}

// Closing the client's side of a tunnel ends the handler's reads.
func TestClosedTunnelEndsTheHandlersReads(t *testing.T) {
	readErr := make(chan error, 1)
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		c, _, err := w.(http.Hijacker).Hijack()
		if err != nil {
			readErr <- err
			return
		}
		defer c.Close()
		_, err = c.Read(make([]byte, 1))
		readErr <- err
	})
	var p Pool
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://x/", pr)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("the handler read nil error from a cancelled tunnel")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's read went on after the client closed the tunnel")
	}
}

// 101 without taking the stream over is the handler's mistake: a 500.
func TestSwitchingProtocolsWithoutHijackIs500(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
	})
	var p Pool
	req, _ := http.NewRequest(http.MethodGet, "http://x/", nil)
	if a, body := get(t, &p, addr, req); a.code != http.StatusInternalServerError || !strings.Contains(body, "Hijack") {
		t.Fatalf("%d %q", a.code, body)
	}
}

// A tunnel its handler left open is forgotten when the client cancels it.
func TestAbandonedTunnelIsForgottenOnCancel(t *testing.T) {
	addr, s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusSwitchingProtocols)
		_, _, _ = w.(http.Hijacker).Hijack() // and never closed
	})
	var p Pool
	pr, pw := io.Pipe()
	defer pw.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://x/", pr)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	streams := func() int {
		n := 0
		for _, sc := range s.connList() {
			sc.mu.Lock()
			n += len(sc.streams)
			sc.mu.Unlock()
		}
		return n
	}
	time.Sleep(50 * time.Millisecond)
	if n := streams(); n != 1 {
		t.Fatalf("%d streams filed while the tunnel is open, want 1", n)
	}
	_ = resp.Body.Close() // cancels the stream
	end := time.Now().Add(5 * time.Second)
	for streams() != 0 {
		if time.Now().After(end) {
			t.Fatal("the abandoned tunnel's stream is still filed after the client cancelled it")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
