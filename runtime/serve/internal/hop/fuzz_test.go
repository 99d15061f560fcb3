package hop

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"reflect"
	"runtime"
	"sync"
	"testing"
	"time"
)

// rawFrame is one frame as read.
type rawFrame struct {
	t  frameType
	id uint32
	p  []byte
}

// readFrames reads frames from r until an error, which it returns.
func readFrames(r io.Reader) ([]rawFrame, error) {
	fr := newFrameReader(r)
	var out []rawFrame
	for {
		t, id, p, err := fr.next()
		if err != nil {
			return out, err
		}
		out = append(out, rawFrame{t, id, p})
	}
}

// stuttering reads one byte at a time and fails every other call with a
// timeout, as a connection with a read deadline does.
type stuttering struct {
	b       []byte
	timeout bool
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (s *stuttering) Read(p []byte) (int, error) {
	if s.timeout = !s.timeout; s.timeout {
		return 0, timeoutError{}
	}
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = s.b[0]
	s.b = s.b[1:]
	return 1, nil
}

func requestFrame(t testing.TB, id uint32, method, uri, host string, h http.Header, body string) []byte {
	b, err := appendFrame(nil, frameRequest, id, encodeRequest(nil, method, uri, host, h), []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fuzzFrameSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	seeds = append(seeds, requestFrame(f, 1, "GET", "/", "x", nil, ""))
	seeds = append(seeds, requestFrame(f, 7, "POST", "/a/b?x=1", "svc.example", http.Header{"X-In": {"1", "2"}, "Content-Type": {"text/plain"}}, "payload"))
	status, _ := appendFrame(nil, frameFull, 3, encodeStatus(nil, 201, http.Header{"X-Out": {"v"}}), []byte("body"))
	seeds = append(seeds, status)
	var stream []byte
	stream, _ = appendFrame(stream, frameHead, 5, encodeStatus(nil, 200, nil))
	stream, _ = appendFrame(stream, frameData, 5, []byte("part"))
	stream, _ = appendFrame(stream, frameEnd, 5)
	stream, _ = appendFrame(stream, frameWindow, 5, []byte{0x80, 0x80, 0x10})
	stream, _ = appendFrame(stream, frameCancel, 5)
	seeds = append(seeds, stream)
	var up []byte
	up, _ = appendFrame(up, frameOpen, 9, encodeOpen(nil, "PUT", "/up", "h", http.Header{"X-In": {"1"}}, 5))
	up, _ = appendFrame(up, frameBody, 9, []byte("12345"))
	up, _ = appendFrame(up, frameBodyEnd, 9)
	up, _ = appendFrame(up, frameOpen, 11, encodeOpen(nil, "POST", "/", "h", nil, -1))
	up, _ = appendFrame(up, frameBodyEnd, 11, []byte("gone"))
	seeds = append(seeds, up)
	tun, _ := appendFrame(nil, frameTunnel, 13, encodeStatus(nil, 101, http.Header{"Upgrade": {"websocket"}}))
	tun, _ = appendFrame(tun, frameTunnel, 15, encodeStatus(nil, 0, nil))
	seeds = append(seeds, tun)
	seeds = append(seeds, []byte{byte(frameData), 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff}) // past MaxFrame
	seeds = append(seeds, []byte{byte(frameData), 0, 0, 0, 1, 0, 0, 1, 0, 'x'})        // truncated payload
	return seeds
}

// FuzzFrameReader parses arbitrary bytes as a stream of frames and their
// payloads. It must not panic; a frame is never larger than MaxFrame and a
// length past it is a protocol error before anything is allocated for it; the
// frames read re-encode to exactly the bytes they came from; the reader
// stops on io.EOF at a frame boundary, io.ErrUnexpectedEOF inside a frame;
// reading one byte at a time with a timeout between every byte (the reader
// resumes a frame read in part) gives the same frames. Request and status
// payloads that decode re-encode to the same request or status.
func FuzzFrameReader(f *testing.F) {
	for _, s := range fuzzFrameSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		frames, err := readFrames(bytes.NewReader(b))
		var again []byte
		for _, fr := range frames {
			if len(fr.p) > MaxFrame {
				t.Fatalf("a frame of %d bytes", len(fr.p))
			}
			var aerr error
			if again, aerr = appendFrame(again, fr.t, fr.id, fr.p); aerr != nil {
				t.Fatal(aerr)
			}
		}
		if err == nil {
			t.Fatal("readFrames ended without an error")
		}
		if !bytes.Equal(again, b[:len(again)]) {
			t.Fatalf("frames re-encode to %q, read from %q", again, b[:len(again)])
		}
		rest := b[len(again):]
		switch {
		case len(rest) == 0:
			if !errors.Is(err, io.EOF) {
				t.Fatalf("at a frame boundary: %v, want io.EOF", err)
			}
		case len(rest) >= frameHeaderLen && uint32(rest[5])<<24|uint32(rest[6])<<16|uint32(rest[7])<<8|uint32(rest[8]) > MaxFrame:
			if !errors.Is(err, errProtocol) {
				t.Fatalf("a frame past MaxFrame: %v, want a protocol error", err)
			}
		default:
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("inside a frame: %v, want io.ErrUnexpectedEOF", err)
			}
		}

		// The same bytes with a timeout before every byte.
		fr := newFrameReader(&stuttering{b: b})
		var slow []rawFrame
		var serr error
		for {
			t, id, p, err := fr.next()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if err != nil {
				serr = err
				break
			}
			slow = append(slow, rawFrame{t, id, p})
		}
		if len(slow) != len(frames) || (len(frames) > 0 && !reflect.DeepEqual(slow, frames)) {
			t.Fatalf("read with timeouts: %d frames, want %d", len(slow), len(frames))
		}
		if !errors.Is(serr, err) && (!errors.Is(serr, errProtocol) || !errors.Is(err, errProtocol)) {
			t.Fatalf("read with timeouts ended with %v, want %v", serr, err)
		}

		for _, fr := range frames {
			checkPayload(t, fr)
		}
	})
}

// checkPayload decodes a request or status payload; what decodes must
// re-encode to something that decodes to the same thing.
func checkPayload(t *testing.T, fr rawFrame) {
	t.Helper()
	switch fr.t {
	case frameRequest:
		r, err := decodeRequest(fr.p)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("decodeRequest: %v, want a protocol error", err)
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		p := append(encodeRequest(nil, r.Method, r.RequestURI, r.Host, r.Header), body...)
		r2, err := decodeRequest(p)
		if err != nil {
			t.Fatalf("a decoded request re-encodes to %q, which does not decode: %v", p, err)
		}
		body2, _ := io.ReadAll(r2.Body)
		if r2.Method != r.Method || r2.RequestURI != r.RequestURI || r2.Host != r.Host || !reflect.DeepEqual(r2.Header, r.Header) ||
			!bytes.Equal(body2, body) || r2.ContentLength != int64(len(body)) {
			t.Fatalf("request round trip: %v %q %q %v %q -> %v %q %q %v %q", r.Method, r.RequestURI, r.Host, r.Header, body,
				r2.Method, r2.RequestURI, r2.Host, r2.Header, body2)
		}
	case frameOpen:
		r, err := decodeOpen(fr.p)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("decodeOpen: %v, want a protocol error", err)
			}
			return
		}
		if r.ContentLength < -1 {
			t.Fatalf("decodeOpen gave length %d", r.ContentLength)
		}
		p := encodeOpen(nil, r.Method, r.RequestURI, r.Host, r.Header, r.ContentLength)
		r2, err := decodeOpen(p)
		if err != nil || r2.Method != r.Method || r2.RequestURI != r.RequestURI || r2.Host != r.Host || !reflect.DeepEqual(r2.Header, r.Header) ||
			r2.ContentLength != r.ContentLength {
			t.Fatalf("open round trip: %v %q %d -> %v (%v)", r.Method, r.RequestURI, r.ContentLength, r2, err)
		}
	case frameTunnel:
		code, h, err := decodeTunnel(fr.p)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("decodeTunnel: %v, want a protocol error", err)
			}
			return
		}
		if code != 0 && (code < 100 || code > 999) {
			t.Fatalf("decodeTunnel gave status %d", code)
		}
		code2, h2, err := decodeTunnel(encodeStatus(nil, code, h))
		if err != nil || code2 != code || !reflect.DeepEqual(h2, h) {
			t.Fatalf("tunnel round trip: %d %v -> %d %v (%v)", code, h, code2, h2, err)
		}
	case frameFull, frameHead:
		code, h, body, err := decodeStatus(fr.p)
		if err != nil {
			if !errors.Is(err, errProtocol) {
				t.Fatalf("decodeStatus: %v, want a protocol error", err)
			}
			return
		}
		if code < 100 || code > 999 {
			t.Fatalf("decodeStatus gave status %d", code)
		}
		p := append(encodeStatus(nil, code, h), body...)
		code2, h2, body2, err := decodeStatus(p)
		if err != nil || code2 != code || !reflect.DeepEqual(h2, h) || !bytes.Equal(body2, body) {
			t.Fatalf("status round trip: %d %v %q -> %d %v %q (%v)", code, h, body, code2, h2, body2, err)
		}
	}
}

// pipeListener hands out one end of a net.Pipe, once.
type pipeListener struct {
	conns chan net.Conn
	once  sync.Once
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// echo answers with the request's body, streamed when the request asks
// (X-Flush), and panics on /panic.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	if r.URL.Path == "/panic" {
		if len(body) > 0 {
			_, _ = w.Write(body)
			w.(http.Flusher).Flush()
		}
		panic("fuzz")
	}
	if r.Header.Get("X-Flush") != "" {
		half := len(body) / 2
		_, _ = w.Write(body[:half])
		w.(http.Flusher).Flush()
		body = body[half:]
	}
	_, _ = w.Write(body)
}

// FuzzServer sends arbitrary bytes to a server on a net.Pipe, then shuts the
// server down and reads all it answered. The server must not panic or hang.
//
// Raw, the bytes are the whole connection (the preface and the token are
// fuzzed too): without the preface the server answers nothing, and whatever
// it answers is server frames. Otherwise the bytes follow a valid opening and
// every frame the server sends is one a server may send, on a stream the
// client opened, in a valid order (full; or head, data, then end or abort;
// refused; abort), with a status payload that decodes, and the body it
// answers a request with is the request's body (the echo handler's). So that
// the server has taken every frame before it shuts down, a last request (on
// a stream id the input does not use) follows the input's whole frames, and
// the answers are read up to its answer (or the connection's end) before the
// rest of the input goes and the server shuts down.
func FuzzServer(f *testing.F) {
	for _, s := range fuzzFrameSeeds(f) {
		f.Add(false, s)
	}
	var two []byte
	two = append(two, requestFrame(f, 1, "PUT", "/x", "h", http.Header{"X-Flush": {"1"}}, "0123456789")...)
	two = append(two, requestFrame(f, 2, "GET", "/panic", "h", nil, "")...)
	two = append(two, requestFrame(f, 3, "GET", "/panic", "h", nil, "abc")...)
	two, _ = appendFrame(two, frameCancel, 1)
	f.Add(false, two)
	f.Add(false, append(requestFrame(f, 1, "GET", "/", "h", nil, ""), requestFrame(f, 1, "GET", "/", "h", nil, "")...)) // a stream id in use
	// Streamed bodies: one sent before the server's window (past it: a
	// protocol error), one with no body frames, one broken off.
	var up []byte
	up, _ = appendFrame(up, frameOpen, 1, encodeOpen(nil, "PUT", "/x", "h", nil, 3))
	up, _ = appendFrame(up, frameBody, 1, []byte("abc"))
	up, _ = appendFrame(up, frameOpen, 2, encodeOpen(nil, "POST", "/y", "h", http.Header{"X-Flush": {"1"}}, -1))
	up, _ = appendFrame(up, frameOpen, 3, encodeOpen(nil, "POST", "/panic", "h", nil, -1))
	up, _ = appendFrame(up, frameBodyEnd, 3, []byte("client gone"))
	f.Add(false, up)
	var early []byte
	early, _ = appendFrame(early, frameOpen, 4, encodeOpen(nil, "POST", "/z", "h", nil, -1))
	early, _ = appendFrame(early, frameCancel, 4)
	early, _ = appendFrame(early, frameBody, 4, []byte("late"))
	f.Add(false, early)
	f.Add(true, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add(true, []byte(Preface[:5]))
	f.Add(true, append(opening(""), requestFrame(f, 1, "GET", "/", "h", nil, "")...))
	f.Add(true, append(opening("a token"), requestFrame(f, 1, "GET", "/", "h", nil, "")...))
	f.Add(true, append([]byte(Preface), 0xff, 0xff, 'x'))
	f.Fuzz(func(t *testing.T, raw bool, data []byte) {
		var head, tail []byte
		var last uint32
		if raw {
			head = data
		} else {
			frames, _ := readFrames(bytes.NewReader(data))
			used := map[uint32]bool{}
			n := 0
			for _, fr := range frames {
				used[fr.id] = true
				n += frameHeaderLen + len(fr.p)
			}
			for used[last] {
				last++
			}
			head = append(opening(""), data[:n]...)
			// Every streamed body ends before the last request, so that
			// the echo handlers reading them return.
			for _, fr := range frames {
				if fr.t == frameOpen {
					head, _ = appendFrame(head, frameBodyEnd, fr.id)
				}
			}
			head = append(head, requestFrame(t, last, "GET", "/last", "h", nil, "")...)
			tail = data[n:]
		}
		done := make(chan struct{})
		var answers []rawFrame
		go func() {
			defer close(done)
			answers = runServer(head, tail, last, !raw)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("the server hung on %q:\n%s", head, buf[:runtime.Stack(buf, true)])
		}
		if raw {
			if !bytes.HasPrefix(data, []byte(Preface)) && len(answers) > 0 {
				t.Fatalf("answered %d frames to a connection without the preface", len(answers))
			}
			for _, fr := range answers {
				if !fromServer(fr.t) || fr.t == frameTunnel {
					t.Fatalf("frame type %d from the server", fr.t)
				}
			}
			return
		}
		checkAnswers(t, head[len(opening("")):], answers)
	})
}

// runServer serves one connection: it sends head, reads the server's frames
// until the answer to stream last (when wait) or the connection's end, sends
// tail, shuts the server down and returns all the frames the server sent.
func runServer(head, tail []byte, last uint32, wait bool) []rawFrame {
	client, server := net.Pipe()
	l := &pipeListener{conns: make(chan net.Conn, 1), done: make(chan struct{})}
	l.conns <- server
	s := &Server{Handler: http.HandlerFunc(echo)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = s.Serve(l)
	}()
	var frames []rawFrame
	lastAnswered := make(chan struct{})
	read := make(chan struct{})
	go func() {
		defer close(read)
		fr := newFrameReader(client)
		for {
			t, id, p, err := fr.next()
			if err != nil {
				return // EOF; or a frame cut off at the close (a write in progress)
			}
			frames = append(frames, rawFrame{t, id, p})
			if id == last && (t == frameFull || t == frameEnd || t == frameAbort || t == frameRefused) {
				close(lastAnswered)
			}
		}
	}()
	if _, err := client.Write(head); err == nil && wait {
		select {
		case <-lastAnswered:
		case <-read:
		}
		_, _ = client.Write(tail)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = s.Shutdown(ctx)
	<-read
	_ = client.Close()
	<-served
	return frames
}

// checkAnswers checks the server's frames against the client's.
func checkAnswers(t *testing.T, sent []byte, frames []rawFrame) {
	t.Helper()
	reqs, _ := readFrames(bytes.NewReader(sent))
	opened := map[uint32]int{}
	body := map[uint32][]byte{}
	path := map[uint32]string{}
	streamed := map[uint32]bool{} // the body streamed: what reached the handler depends on the windows
	for _, fr := range reqs {
		switch fr.t {
		case frameRequest:
			opened[fr.id]++
			if r, err := decodeRequest(fr.p); err == nil {
				body[fr.id], _ = io.ReadAll(r.Body)
				path[fr.id] = r.URL.Path
			}
		case frameOpen:
			opened[fr.id]++
			streamed[fr.id] = true
			if r, err := decodeOpen(fr.p); err == nil {
				path[fr.id] = r.URL.Path
			}
		case frameBody:
			body[fr.id] = append(body[fr.id], fr.p...)
		}
	}
	same := func(id uint32, got []byte) bool {
		if streamed[id] {
			return bytes.HasPrefix(body[id], got)
		}
		return bytes.Equal(got, body[id])
	}
	type state struct {
		head, ended bool
		got         []byte
	}
	streams := map[uint32]*state{}
	for _, fr := range frames {
		if opened[fr.id] == 0 {
			t.Fatalf("frame type %d on stream %d, which the client never opened", fr.t, fr.id)
		}
		if opened[fr.id] > 1 { // a reused id: its frames cannot be told apart
			continue
		}
		st := streams[fr.id]
		if st == nil {
			st = &state{}
			streams[fr.id] = st
		}
		if st.ended {
			t.Fatalf("frame type %d on stream %d after its end", fr.t, fr.id)
		}
		switch fr.t {
		case frameFull, frameHead:
			if st.head {
				t.Fatalf("a second head on stream %d", fr.id)
			}
			code, _, b, err := decodeStatus(fr.p)
			if err != nil || code < 200 {
				t.Fatalf("status payload %q on stream %d: %d %v", fr.p, fr.id, code, err)
			}
			if fr.t == frameHead {
				if len(b) > 0 {
					t.Fatalf("a head frame with a body on stream %d", fr.id)
				}
				st.head = true
				continue
			}
			st.ended = true
			if path[fr.id] != "/panic" && !same(fr.id, b) {
				t.Fatalf("stream %d answered %q, sent %q", fr.id, b, body[fr.id])
			}
		case frameData:
			if !st.head {
				t.Fatalf("data before the head on stream %d", fr.id)
			}
			st.got = append(st.got, fr.p...)
		case frameEnd:
			if !st.head {
				t.Fatalf("end before the head on stream %d", fr.id)
			}
			st.ended = true
			if path[fr.id] != "/panic" && !same(fr.id, st.got) {
				t.Fatalf("stream %d streamed %q, sent %q", fr.id, st.got, body[fr.id])
			}
		case frameWindow:
			if !streamed[fr.id] {
				t.Fatalf("a window on stream %d, whose body came inline", fr.id)
			}
			if n, k := binary.Uvarint(fr.p); k <= 0 || k != len(fr.p) || n == 0 || n > Window {
				t.Fatalf("window frame %x on stream %d", fr.p, fr.id)
			}
		case frameAbort, frameRefused:
			if fr.t == frameRefused && st.head {
				t.Fatalf("refused after the head on stream %d", fr.id)
			}
			st.ended = true
		default:
			t.Fatalf("frame type %d from the server", fr.t)
		}
		if len(st.got) > len(body[fr.id]) && path[fr.id] != "/panic" {
			t.Fatalf("stream %d: %d bytes streamed, %d sent", fr.id, len(st.got), len(body[fr.id]))
		}
	}
}
