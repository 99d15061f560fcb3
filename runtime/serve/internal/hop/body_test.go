package hop

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// pattern is an endless reader of a repeating byte pattern that counts
// what was read from it.
type pattern struct {
	n, limit int64
	read     atomic.Int64
	failAt   int64 // > 0: fail once n reaches it
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.failAt > 0 && p.n >= p.failAt {
		return 0, errors.New("the uploader went away")
	}
	if p.n >= p.limit {
		return 0, io.EOF
	}
	k := int(min(int64(len(b)), p.limit-p.n))
	for i := range k {
		b[i] = byte((p.n + int64(i)) % 251)
	}
	p.n += int64(k)
	p.read.Add(int64(k))
	return k, nil
}

func patternCRC(n int64) uint32 {
	p := &pattern{limit: n}
	h := crc32.NewIEEE()
	_, _ = io.Copy(h, p)
	return h.Sum32()
}

// A body that is not a NewBody streams to the handler, whole and in order,
// with the length the client announced.
func TestStreamedBodyReachesTheHandler(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		h := crc32.NewIEEE()
		n, err := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %d %08x %v", r.ContentLength, n, h.Sum32(), err)
	})
	var p Pool
	const size = 5 << 20
	for _, length := range []int64{size, -1} {
		req, _ := http.NewRequest(http.MethodPut, "http://x/up", io.NopCloser(&pattern{limit: size}))
		req.ContentLength = length
		_, body := get(t, &p, addr, req)
		if want := fmt.Sprintf("%d %d %08x <nil>", length, size, patternCRC(size)); body != want {
			t.Fatalf("announced %d: handler saw %q, want %q", length, body, want)
		}
	}
}

// The client reads the body only as far as the server grants: a handler
// that stops reading holds the upload at about a window.
func TestStreamedBodyIsPacedByTheHandler(t *testing.T) {
	release := make(chan struct{})
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 10)
		_, _ = io.ReadFull(r.Body, buf)
		<-release
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprint(w, n+10)
	})
	var p Pool
	src := &pattern{limit: 64 << 20}
	req, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(src))
	got := make(chan string, 1)
	go func() {
		resp, err := p.RoundTrip(req, addr)
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		got <- string(b)
	}()
	time.Sleep(300 * time.Millisecond)
	if n := src.read.Load(); n == 0 || n > Window+pumpBuffer {
		t.Fatalf("the client read %d bytes of the body while the handler held still, want 1..%d", n, Window+pumpBuffer)
	}
	close(release)
	select {
	case b := <-got:
		if b != fmt.Sprint(64<<20) {
			t.Fatalf("handler read %s bytes", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the upload did not finish")
	}
}

// A handler that answers without reading the body gets none of it sent,
// and a refused request read none of it: both may go elsewhere with the
// same body.
func TestBodyNotReadIsNotSent(t *testing.T) {
	addr, s := serve(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "draining", http.StatusServiceUnavailable)
	})
	var p Pool
	src := &pattern{limit: 1 << 20}
	req, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(src))
	if a, _ := get(t, &p, addr, req); a.code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", a.code)
	}
	time.Sleep(50 * time.Millisecond)
	if n := src.read.Load(); n != 0 {
		t.Fatalf("%d bytes of the body were read for a handler that never read it", n)
	}
	// The server is shutting down: refused, as not sent, body untouched.
	hold := make(chan struct{})
	defer close(hold)
	addr2, s2 := serve(t, func(w http.ResponseWriter, r *http.Request) { <-hold })
	go getAsync(&p, addr2, "/held") // in flight, so Shutdown waits and refuses the next
	time.Sleep(50 * time.Millisecond)
	go func() { _ = s2.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	req, _ = http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(src))
	resp, err := p.RoundTrip(req, addr2)
	if err == nil {
		_ = resp.Body.Close()
	}
	if !errors.Is(err, ErrNotSent) || errors.Is(err, ErrBodySent) {
		t.Fatalf("a request to a server shutting down: %v, want ErrNotSent", err)
	}
	if n := src.read.Load(); n != 0 {
		t.Fatalf("%d bytes of the body were read for a refused request", n)
	}
	_ = s
}

// A body that breaks off on the client's side is an unexpected EOF for the
// handler.
func TestBrokenBodyIsAnErrorForTheHandler(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "%d %v", n, errors.Is(err, io.ErrUnexpectedEOF) && strings.Contains(err.Error(), "the uploader went away"))
	})
	var p Pool
	req, _ := http.NewRequest(http.MethodPost, "http://x/", io.NopCloser(&pattern{limit: 1 << 20, failAt: 128 << 10}))
	if _, body := get(t, &p, addr, req); body != fmt.Sprintf("%d true", 128<<10) {
		t.Fatalf("handler: %q", body)
	}
}

// Both directions stream at once: each line the client sends is answered
// before it sends the next one.
func TestBodyAndResponseStreamTogether(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		buf := make([]byte, 64)
		for {
			n, err := r.Body.Read(buf)
			if n > 0 {
				_, _ = w.Write([]byte(strings.ToUpper(string(buf[:n]))))
				w.(http.Flusher).Flush()
			}
			if err != nil {
				return
			}
		}
	})
	var p Pool
	pr, pw := io.Pipe()
	req, _ := http.NewRequest(http.MethodPost, "http://x/", pr)
	resp, err := p.RoundTrip(req, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for i := range 5 {
		line := fmt.Sprintf("line %d\n", i)
		if _, err := pw.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(line))
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != strings.ToUpper(line) {
			t.Fatalf("answer %d: %q %v", i, buf, err)
		}
	}
	_ = pw.Close()
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the body's end: %q %v", rest, err)
	}
}

// A client that sends body bytes the server did not grant breaks the
// protocol: the server closes the connection.
func TestBodyPastTheWindowClosesTheConnection(t *testing.T) {
	addr, _ := serve(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := opening("")
	b, _ = appendFrame(b, frameOpen, 1, encodeOpen(nil, "POST", "/", "h", nil, -1))
	b, _ = appendFrame(b, frameBody, 1, make([]byte, Window+1))
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	frames, err := readFrames(c)
	if err == nil || errors.Is(err, errProtocol) {
		t.Fatalf("read: %v", err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the connection stayed open (frames %v)", frames)
	}
}
