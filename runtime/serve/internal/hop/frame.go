// Package hop is the protocol between serve's routers (in proxies and
// handles) and replicas: HTTP requests and responses carried as
// length-prefixed frames on a stream connection (TCP, or a unix socket on the
// same node). It stands in for HTTP/1.1 on this internal hop because parsing
// and formatting HTTP text, and net/http's per-request background read and
// deadlines, cost a replica more than a small handler does; the proxy's
// user-facing side stays net/http.
//
// A connection starts with the client's Preface. Every frame is a 9-byte
// header — type, stream id (big-endian uint32), payload length (uint32) —
// and its payload. A connection carries many requests at once, each on its
// own stream: the client sends a request frame (the whole body inline) and
// the server answers that stream with one full frame (status, header and
// whole body) or, when the handler flushes or writes more than a buffer's
// worth, a head frame, data frames and an end frame (or an abort frame when
// the handler gave up after the head was sent). Multiplexing is what makes
// the hop cheap under load: frames that several requests queue while one
// write is in progress go out in the next write, and one read takes in the
// answers to several requests, so the socket system calls and the wake-ups
// of the other process they cause are shared.
//
// Data frames are paced per stream: a server sends at most Window bytes of
// a stream's data ahead of what the client's reader took, and the client
// grants more with window frames, so a slow reader of one streamed response
// holds up neither the connection nor the server's memory. A client cancels
// a stream with a cancel frame (the handler's context is cancelled); a
// server that is shutting down answers new requests with a refused frame,
// which tells the client the request did not run and may go elsewhere.
//
// A request body that is not in memory (an upload, a body of unknown length)
// streams the other way: the client sends an open frame (the request without
// its body), then body frames and a body-end frame, paced by window frames
// the server sends as the handler reads. The server sends its first window
// only when the handler first reads the body, so a request that is refused,
// turned away or answered without reading its body has sent none of it and
// may still go elsewhere. A handler that takes its stream over (Hijack, as
// WebSocket servers do) makes the server send a tunnel frame; from then on
// the stream's data frames and body frames carry raw bytes both ways.
package hop

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/textproto"
	"net/url"
)

// Preface opens every connection; a server closes a connection that does not
// start with it (another protocol, or another version of this one). The
// client's credential follows it: a big-endian uint16 length and the auth
// token (length 0 without one).
const Preface = "GORAY-HOP/4\n"

// opening is what a client sends first: the preface and its token.
func opening(token string) []byte {
	b := make([]byte, 0, len(Preface)+2+len(token))
	b = append(b, Preface...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(token)))
	return append(b, token...)
}

type frameType byte

const (
	frameRequest frameType = iota + 1 // method, request URI, host, header, body
	frameFull                         // status, header, body: the whole response
	frameHead                         // status, header: a streamed response's start
	frameData                         // a piece of a streamed response's body
	frameEnd                          // a streamed response's end
	frameAbort                        // a streamed response broken off (message)
	frameCancel                       // client: forget the stream, cancel its handler
	frameWindow                       // either side: uvarint n more bytes of the stream's data (body) may come
	frameRefused                      // server: the request was not taken (shutting down)
	frameOpen                         // client: a request (as frameRequest) whose body follows in body frames
	frameBody                         // client: a piece of a streamed request body
	frameBodyEnd                      // client: a streamed body's end (empty) or break (message)
	frameTunnel                       // server: the handler took the stream over; status (0: none) and header
)

// fromServer reports whether a server may send frames of type t.
func fromServer(t frameType) bool {
	switch t {
	case frameFull, frameHead, frameData, frameEnd, frameAbort, frameWindow, frameRefused, frameTunnel:
		return true
	}
	return false
}

// Window is how many bytes of a stream's data (or body) frames a side sends
// ahead of the other side's reader.
const Window = 256 << 10

const frameHeaderLen = 9

// MaxFrame bounds a frame's payload (a request's body travels in one frame,
// so this is also the largest request body).
const MaxFrame = 128 << 20

var errProtocol = errors.New("hop: protocol error")

// errFrameTooLarge is a frame past MaxFrame, refused before it is sent.
var errFrameTooLarge = errors.New("hop: frame too large")

// frameReader reads frames. A read it makes can be interrupted (a read
// deadline) and resumed: a frame read in part is kept for the next call.
type frameReader struct {
	br   *bufio.Reader
	h    [frameHeaderLen]byte
	hn   int    // header bytes read
	p    []byte // the payload read so far, once the header is complete
	pn   int    // payload bytes read
	want int    // the payload's length
}

// growStep is the payload buffer a frame starts with; it doubles as bytes
// arrive, up to the frame's length.
const growStep = 64 << 10

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{br: bufio.NewReaderSize(r, 32<<10)}
}

// next reads the next frame; the payload is a new slice the caller keeps.
func (r *frameReader) next() (frameType, uint32, []byte, error) {
	for r.hn < frameHeaderLen {
		n, err := r.br.Read(r.h[r.hn:])
		r.hn += n
		if err != nil {
			if r.hn > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, nil, err
		}
	}
	if r.p == nil {
		n := binary.BigEndian.Uint32(r.h[5:])
		if n > MaxFrame {
			return 0, 0, nil, fmt.Errorf("%w: frame of %d bytes (max %d)", errProtocol, n, MaxFrame)
		}
		// Memory follows the bytes that arrive, not the length claimed:
		// a header alone cannot make the reader allocate MaxFrame.
		r.want = int(n)
		r.p = make([]byte, min(r.want, growStep))
	}
	for r.pn < r.want {
		if r.pn == len(r.p) {
			np := make([]byte, min(r.want, 2*len(r.p)))
			copy(np, r.p[:r.pn])
			r.p = np
		}
		n, err := r.br.Read(r.p[r.pn:])
		r.pn += n
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return 0, 0, nil, err
		}
	}
	t, id, p := frameType(r.h[0]), binary.BigEndian.Uint32(r.h[1:5]), r.p
	r.hn, r.p, r.pn, r.want = 0, nil, 0, 0
	return t, id, p, nil
}

// buffered is how many bytes were read from the connection but not taken yet.
func (r *frameReader) buffered() int { return r.br.Buffered() }

// frameHeader is the header of a frame whose payload is n bytes.
func frameHeader(t frameType, stream uint32, n int) [frameHeaderLen]byte {
	var h [frameHeaderLen]byte
	h[0] = byte(t)
	binary.BigEndian.PutUint32(h[1:5], stream)
	binary.BigEndian.PutUint32(h[5:], uint32(n))
	return h
}

// appendFrame appends a frame whose payload is the concatenation of parts.
func appendFrame(b []byte, t frameType, stream uint32, parts ...[]byte) ([]byte, error) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	if n > MaxFrame {
		return b, fmt.Errorf("%w: %d bytes (max %d)", errFrameTooLarge, n, MaxFrame)
	}
	h := frameHeader(t, stream, n)
	b = append(b, h[:]...)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b, nil
}

// Payload encoding: strings and byte strings are a uvarint length and the
// bytes; a header is a uvarint count of keys, then per key the key, a uvarint
// count of values and the values.

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendHeader(b []byte, h http.Header) []byte {
	b = binary.AppendUvarint(b, uint64(len(h)))
	for k, vv := range h {
		b = appendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(vv)))
		for _, v := range vv {
			b = appendString(b, v)
		}
	}
	return b
}

// decoder reads a payload; the first error sticks and later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = fmt.Errorf("%w: bad length", errProtocol)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.err = fmt.Errorf("%w: field of %d bytes past the frame's end", errProtocol, n)
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes()) }

func (d *decoder) header() http.Header {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) { // every key takes at least a byte
		d.err = fmt.Errorf("%w: %d header keys past the frame's end", errProtocol, n)
		return nil
	}
	h := make(http.Header, n)
	for range n {
		k := textproto.CanonicalMIMEHeaderKey(d.string())
		m := d.uvarint()
		if d.err != nil {
			return nil
		}
		if m > uint64(len(d.b)) {
			d.err = fmt.Errorf("%w: %d header values past the frame's end", errProtocol, m)
			return nil
		}
		vv := make([]string, m)
		for i := range vv {
			vv[i] = d.string()
		}
		h[k] = append(h[k], vv...)
	}
	return h
}

// encodeRequest is a request frame's payload: everything but the body,
// which the caller appends as the frame's last part.
func encodeRequest(b []byte, method, requestURI, host string, h http.Header) []byte {
	b = appendString(b, method)
	b = appendString(b, requestURI)
	b = appendString(b, host)
	return appendHeader(b, h)
}

// decodeRequest parses a request frame's payload into a server request
// (no context yet).
func decodeRequest(p []byte) (*http.Request, error) {
	r, body, err := decodeRequestHead(p)
	if err != nil {
		return nil, err
	}
	if len(body) > 0 {
		r.Body, r.ContentLength = &bytesBody{b: body}, int64(len(body))
	}
	return r, nil
}

// encodeOpen is an open frame's payload: the request without its body and
// the body's length (as uvarint length+1; 0: unknown).
func encodeOpen(b []byte, method, requestURI, host string, h http.Header, length int64) []byte {
	b = encodeRequest(b, method, requestURI, host, h)
	if length < 0 {
		length = -1
	}
	return binary.AppendUvarint(b, uint64(length+1))
}

// decodeOpen parses an open frame's payload; the body is the caller's to
// set, and ContentLength is the length the client announced (-1: unknown).
func decodeOpen(p []byte) (*http.Request, error) {
	r, rest, err := decodeRequestHead(p)
	if err != nil {
		return nil, err
	}
	d := decoder{b: rest}
	n := d.uvarint()
	if d.err != nil || len(d.b) > 0 || n > math.MaxInt64 {
		return nil, fmt.Errorf("%w: bad body length in an open frame", errProtocol)
	}
	r.ContentLength = int64(n) - 1
	return r, nil
}

// decodeRequestHead parses the part of a request or open frame before the
// body, and returns what follows.
func decodeRequestHead(p []byte) (*http.Request, []byte, error) {
	d := decoder{b: p}
	method, uri, host, h := d.string(), d.string(), d.string(), d.header()
	if d.err != nil {
		return nil, nil, d.err
	}
	if method == "" {
		return nil, nil, fmt.Errorf("%w: request without a method", errProtocol)
	}
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: request URI %q: %w", errProtocol, uri, err)
	}
	r := &http.Request{Method: method, URL: u, RequestURI: uri, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: host, Body: http.NoBody}
	return r, d.b, nil
}

// encodeStatus is a full or head frame's payload before the body.
func encodeStatus(b []byte, code int, h http.Header) []byte {
	b = binary.AppendUvarint(b, uint64(code))
	return appendHeader(b, h)
}

func decodeStatus(p []byte) (code int, h http.Header, body []byte, err error) {
	d := decoder{b: p}
	c, h := d.uvarint(), d.header()
	if d.err != nil {
		return 0, nil, nil, d.err
	}
	if c < 100 || c > 999 {
		return 0, nil, nil, fmt.Errorf("%w: status %d", errProtocol, c)
	}
	return int(c), h, d.b, nil
}

// decodeTunnel is a tunnel frame's payload: the status and header the
// handler set before taking the stream over (0 and none when it set none:
// it writes its own status line), and nothing after them.
func decodeTunnel(p []byte) (code int, h http.Header, err error) {
	d := decoder{b: p}
	c, h := d.uvarint(), d.header()
	if d.err != nil {
		return 0, nil, d.err
	}
	if len(d.b) > 0 {
		return 0, nil, fmt.Errorf("%w: %d bytes after a tunnel's header", errProtocol, len(d.b))
	}
	if c != 0 && (c < 100 || c > 999) {
		return 0, nil, fmt.Errorf("%w: tunnel status %d", errProtocol, c)
	}
	return int(c), h, nil
}

// NewBody is a request body held in memory; RoundTrip sends its bytes
// without copying them.
func NewBody(b []byte) io.ReadCloser { return &bytesBody{b: b} }

// bytesBody is a body held in memory.
type bytesBody struct {
	b   []byte
	off int
}

func (r *bytesBody) Read(p []byte) (int, error) {
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// WriteTo lets io.Copy hand the whole body to the writer at once.
func (r *bytesBody) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(r.b[r.off:])
	r.off += n
	return int64(n), err
}

func (r *bytesBody) Close() error { return nil }
