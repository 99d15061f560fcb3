// Package grpcwire is how a gRPC call travels from the serve gRPC proxy to a
// replica: as a request of package hop's protocol, much as gRPC-Web carries
// a call over HTTP/1.1.
//
// The request is a POST to the call's full method ("/pkg.Service/Method")
// with CallHeader set; its metadata travels as headers named MetadataPrefix
// + key (binary "-bin" values in base64), the time left before the client's
// deadline in TimeoutHeader, and its body is the client's messages, each
// framed as gRPC frames them on HTTP/2: a flag byte (0), the length (4 bytes,
// big endian), the message.
//
// A call the proxy knows to take one request message (RequestsHeader) has
// its message in the request's frame instead: cheaper, and a call that can
// go to another replica when the first one fails before answering.
//
// The answer of a replica that speaks gRPC has Content-Type ContentType,
// its header metadata as headers named as above, and a body of frames: the
// response messages (flag 0) and last one trailer frame (flag 0x80) that
// holds the call's status and trailer metadata as header lines
// ("grpc-status: 5\r\n"), gRPC-Web's trailer frame.
package grpcwire

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Headers of a call on the hop.
const (
	// CallHeader marks a request as a gRPC call of the serve gRPC proxy.
	// The HTTP proxy removes it from the requests it forwards.
	CallHeader = "X-Goray-Grpc"
	// ContentType is the Content-Type of a replica's gRPC answer.
	ContentType = "application/grpc"
	// TimeoutHeader is the time left to the client's deadline, in microseconds.
	TimeoutHeader = "X-Goray-Grpc-Timeout"
	// MetadataPrefix starts the name of a header that carries metadata.
	MetadataPrefix = "X-Goray-Md-"
	// RequestsHeader says how many request messages a method takes:
	// RequestsOne (unary and server-streaming methods) or RequestsMany. On
	// a request, the proxy's guess: with RequestsOne the body is that one
	// message, whole. On an answer, the replica's word, which the proxy
	// remembers per method; a replica that got RequestsOne for a method of
	// many answers RequestsMany without running it, and the proxy sends the
	// call again as a stream.
	RequestsHeader = "X-Goray-Grpc-Requests"
	RequestsOne    = "one"
	RequestsMany   = "many"
)

// Frame flags.
const (
	FlagMessage = 0x00
	FlagTrailer = 0x80
)

// MaxMessageSize bounds one message of a call, either way: what the gRPC
// proxy takes from a client and a replica from the proxy, and what either
// reads of an answer.
const MaxMessageSize = 64 << 20

// headerLen is a frame's flag byte and length.
const headerLen = 5

// ErrTooLarge is a frame longer than the reader's limit.
var ErrTooLarge = errors.New("grpcwire: message larger than the limit")

// AppendFrame appends a frame of payload to dst.
func AppendFrame(dst []byte, flag byte, payload []byte) []byte {
	dst = append(dst, flag, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(dst[len(dst)-4:], uint32(len(payload)))
	return append(dst, payload...)
}

// FrameReader reads frames from a body.
type FrameReader struct {
	r   io.Reader
	max int
	hdr [headerLen]byte
}

// NewFrameReader reads frames of at most max bytes from r.
func NewFrameReader(r io.Reader, max int) *FrameReader { return &FrameReader{r: r, max: max} }

// Next is the next frame: io.EOF at the end of the body between two frames,
// io.ErrUnexpectedEOF within one, ErrTooLarge for one longer than the
// limit, an error for a flag that is neither FlagMessage nor FlagTrailer.
func (f *FrameReader) Next() (flag byte, payload []byte, err error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return 0, nil, err
	}
	flag = f.hdr[0]
	if flag != FlagMessage && flag != FlagTrailer {
		return 0, nil, fmt.Errorf("grpcwire: frame flag %#x (compressed or unknown)", flag)
	}
	n := binary.BigEndian.Uint32(f.hdr[1:])
	if uint64(n) > uint64(f.max) {
		return 0, nil, fmt.Errorf("%w: %d bytes, more than %d", ErrTooLarge, n, f.max)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(f.r, payload); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	return flag, payload, nil
}

// validKey reports whether k is a metadata key gRPC allows: lower-case
// letters, digits, '-', '_' and '.'.
func validKey(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		ok := c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// validValue reports whether v is a text metadata value gRPC allows:
// printable ASCII.
func validValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return false
		}
	}
	return true
}

func isBinary(k string) bool { return strings.HasSuffix(k, "-bin") }

// reserved are keys that belong to the transport, never to a call's metadata.
func reserved(k string) bool {
	return strings.HasPrefix(k, "grpc-") || k == "content-type" || k == "te" || k == "connection"
}

// PutMetadata adds md to h, each key as MetadataPrefix+key. Keys and text
// values gRPC does not allow, and the transport's own keys, are left out.
func PutMetadata(h http.Header, md metadata.MD) {
	for k, vs := range md {
		k = strings.ToLower(k)
		if !validKey(k) || reserved(k) {
			continue
		}
		name := MetadataPrefix + k
		for _, v := range vs {
			if isBinary(k) {
				h.Add(name, base64.RawStdEncoding.EncodeToString([]byte(v)))
			} else if validValue(v) {
				h.Add(name, v)
			}
		}
	}
}

// Metadata reads the metadata PutMetadata put in h; a binary value that is
// not base64 is left out.
func Metadata(h http.Header) metadata.MD {
	md := metadata.MD{}
	for name, vs := range h {
		if len(name) <= len(MetadataPrefix) || !strings.EqualFold(name[:len(MetadataPrefix)], MetadataPrefix) {
			continue
		}
		k := strings.ToLower(name[len(MetadataPrefix):])
		if !validKey(k) || reserved(k) {
			continue
		}
		for _, v := range vs {
			if isBinary(k) {
				b, err := decodeBinary(v)
				if err != nil {
					continue
				}
				md[k] = append(md[k], string(b))
			} else if validValue(v) {
				md[k] = append(md[k], v)
			}
		}
	}
	return md
}

// decodeBinary decodes a "-bin" value, padded or not (gRPC accepts both).
func decodeBinary(v string) ([]byte, error) {
	return base64.RawStdEncoding.DecodeString(strings.TrimRight(v, "="))
}

// PutTimeout says in h how long the call has until deadline (none: no header).
func PutTimeout(h http.Header, deadline time.Time, ok bool) {
	if !ok {
		return
	}
	// Rounded up: the receiver's deadline is never before the sender's.
	us := (time.Until(deadline) + time.Microsecond - 1).Microseconds()
	h.Set(TimeoutHeader, strconv.FormatInt(max(us, 1), 10))
}

// Timeout is the time TimeoutHeader gives; ok is false without one (or
// with one that is not a positive number of microseconds).
func Timeout(h http.Header) (time.Duration, bool) {
	v := h.Get(TimeoutHeader)
	if v == "" {
		return 0, false
	}
	us, err := strconv.ParseInt(v, 10, 64)
	if err != nil || us <= 0 || us > int64(time.Duration(1<<62)/time.Microsecond) {
		return 0, false
	}
	return time.Duration(us) * time.Microsecond, true
}

// Trailer keys of the call's status.
const (
	keyStatus  = "grpc-status"
	keyMessage = "grpc-message"
	keyDetails = "grpc-status-details-bin"
)

// EncodeTrailer is the payload of a trailer frame: st and the trailer
// metadata md (keys and values as PutMetadata takes them).
func EncodeTrailer(st *status.Status, md metadata.MD) []byte {
	var b strings.Builder
	line := func(k, v string) {
		b.WriteString(k)
		b.WriteString(": ")
		b.WriteString(v)
		b.WriteString("\r\n")
	}
	line(keyStatus, strconv.Itoa(int(st.Code())))
	if m := st.Message(); m != "" {
		line(keyMessage, encodeMessage(m))
	}
	if p := st.Proto(); len(p.GetDetails()) > 0 {
		if d, err := proto.Marshal(p); err == nil {
			line(keyDetails, base64.RawStdEncoding.EncodeToString(d))
		}
	}
	for k, vs := range md {
		k = strings.ToLower(k)
		if !validKey(k) || reserved(k) {
			continue
		}
		for _, v := range vs {
			if isBinary(k) {
				line(k, base64.RawStdEncoding.EncodeToString([]byte(v)))
			} else if validValue(v) {
				line(k, v)
			}
		}
	}
	return []byte(b.String())
}

// DecodeTrailer reads a trailer frame's payload: the call's status and its
// trailer metadata. A payload without a valid grpc-status is an error.
func DecodeTrailer(b []byte) (*status.Status, metadata.MD, error) {
	md := metadata.MD{}
	code, haveCode := codes.Unknown, false
	var msg string
	var details []byte
	for line := range strings.SplitSeq(string(b), "\r\n") {
		if line == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			return nil, nil, fmt.Errorf("grpcwire: trailer line without ':' (%.40q)", line)
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		switch k {
		case keyStatus:
			n, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return nil, nil, fmt.Errorf("grpcwire: grpc-status %.20q is not a code", v)
			}
			code, haveCode = codes.Code(n), true
		case keyMessage:
			msg = decodeMessage(v)
		case keyDetails:
			d, err := decodeBinary(v)
			if err == nil {
				details = d
			}
		default:
			if !validKey(k) || reserved(k) {
				continue
			}
			if isBinary(k) {
				d, err := decodeBinary(v)
				if err != nil {
					continue
				}
				v = string(d)
			} else if !validValue(v) {
				continue
			}
			md[k] = append(md[k], v)
		}
	}
	if !haveCode {
		return nil, nil, errors.New("grpcwire: trailer without grpc-status")
	}
	if details != nil {
		p := &spb.Status{}
		if proto.Unmarshal(details, p) == nil && codes.Code(p.GetCode()) == code {
			return status.FromProto(p), md, nil
		}
	}
	return status.New(code, msg), md, nil
}

// encodeMessage percent-encodes what is not printable ASCII, and '%', as
// gRPC encodes grpc-message; and a space at either end, which a header's
// reader trims (FuzzDecodeTrailer found " " coming back as "").
func encodeMessage(m string) string {
	var b strings.Builder
	for i := 0; i < len(m); i++ {
		c := m[i]
		edge := c == ' ' && (i == 0 || i == len(m)-1)
		if c >= 0x20 && c <= 0x7e && c != '%' && !edge {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// decodeMessage undoes encodeMessage; a '%' not followed by two hex digits
// stays as it is.
func decodeMessage(m string) string {
	if !strings.Contains(m, "%") {
		return m
	}
	var b strings.Builder
	for i := 0; i < len(m); i++ {
		if m[i] == '%' && i+2 < len(m) {
			if n, err := strconv.ParseUint(m[i+1:i+3], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 2
				continue
			}
		}
		b.WriteByte(m[i])
	}
	return b.String()
}

// SplitMethod splits a gRPC method name, "/pkg.Service/Method".
func SplitMethod(full string) (service, method string, ok bool) {
	rest, ok := strings.CutPrefix(full, "/")
	if !ok {
		return "", "", false
	}
	i := strings.LastIndex(rest, "/")
	if i <= 0 || i == len(rest)-1 {
		return "", "", false
	}
	return rest[:i], rest[i+1:], true
}
