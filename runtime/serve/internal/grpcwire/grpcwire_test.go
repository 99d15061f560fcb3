package grpcwire

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestFrames(t *testing.T) {
	var b []byte
	b = AppendFrame(b, FlagMessage, []byte("one"))
	b = AppendFrame(b, FlagMessage, nil)
	b = AppendFrame(b, FlagTrailer, []byte("grpc-status: 0\r\n"))
	fr := NewFrameReader(bytes.NewReader(b), 16)
	for i, want := range []struct {
		flag    byte
		payload string
	}{{FlagMessage, "one"}, {FlagMessage, ""}, {FlagTrailer, "grpc-status: 0\r\n"}} {
		flag, p, err := fr.Next()
		if err != nil || flag != want.flag || string(p) != want.payload {
			t.Fatalf("frame %d: %#x %q %v, want %#x %q", i, flag, p, err, want.flag, want.payload)
		}
	}
	if _, _, err := fr.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after the last frame: %v, want io.EOF", err)
	}
	// Cut inside a frame's header and inside its payload.
	for _, n := range []int{3, 7} {
		if _, _, err := NewFrameReader(bytes.NewReader(b[:n]), 16).Next(); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d: %v, want io.ErrUnexpectedEOF", n, err)
		}
	}
	if _, _, err := NewFrameReader(bytes.NewReader(AppendFrame(nil, 0, make([]byte, 17))), 16).Next(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("17 bytes with a limit of 16: %v, want ErrTooLarge", err)
	}
	if _, _, err := NewFrameReader(bytes.NewReader(AppendFrame(nil, 1, []byte("z"))), 16).Next(); err == nil {
		t.Error("a compressed frame was read")
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	md := metadata.MD{
		"application":  {"app1"},
		"two":          {"a", "b"},
		"trace-bin":    {"\x00\xff\r\n"},
		"bad value":    {"x"},    // key gRPC does not allow
		"ctl":          {"a\nb"}, // text value gRPC does not allow
		"content-type": {"application/grpc"},
		"grpc-timeout": {"1S"},
	}
	h := http.Header{}
	PutMetadata(h, md)
	h.Set("X-Forwarded-For", "127.0.0.1")
	got := Metadata(h)
	want := metadata.MD{"application": {"app1"}, "two": {"a", "b"}, "trace-bin": {"\x00\xff\r\n"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("metadata = %v, want %v", got, want)
	}
	// Padded base64, as other gRPC implementations send, is read too.
	h = http.Header{MetadataPrefix + "X-Bin": {"AQ=="}}
	if got := Metadata(h); !reflect.DeepEqual(got, metadata.MD{"x-bin": {"\x01"}}) {
		t.Errorf("padded binary value: %v", got)
	}
}

func TestTimeout(t *testing.T) {
	h := http.Header{}
	PutTimeout(h, time.Now().Add(2*time.Second), true)
	d, ok := Timeout(h)
	if !ok || d <= time.Second || d > 2*time.Second {
		t.Errorf("timeout = %v %v, want about 2s", d, ok)
	}
	for _, v := range []string{"", "0", "-5", "1e3", "99999999999999999999"} {
		if d, ok := Timeout(http.Header{TimeoutHeader: {v}}); ok {
			t.Errorf("Timeout(%q) = %v, want none", v, d)
		}
	}
	h = http.Header{}
	PutTimeout(h, time.Time{}, false)
	if len(h) != 0 {
		t.Errorf("no deadline set %v", h)
	}
}

func TestTrailerRoundTrip(t *testing.T) {
	st, err := status.New(codes.InvalidArgument, "bad 100% \"name\"\nü").WithDetails(durationpb.New(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	md := metadata.MD{"request_id": {"r1"}, "blob-bin": {"\x00\x01"}, "bad\x00": {"x"}}
	gotSt, gotMD, err := DecodeTrailer(EncodeTrailer(st, md))
	if err != nil {
		t.Fatal(err)
	}
	if gotSt.Code() != codes.InvalidArgument || gotSt.Message() != st.Message() || len(gotSt.Details()) != 1 {
		t.Errorf("status = %v %q %v", gotSt.Code(), gotSt.Message(), gotSt.Details())
	}
	if want := (metadata.MD{"request_id": {"r1"}, "blob-bin": {"\x00\x01"}}); !reflect.DeepEqual(gotMD, want) {
		t.Errorf("trailer metadata = %v, want %v", gotMD, want)
	}
	ok, _, err := DecodeTrailer(EncodeTrailer(status.New(codes.OK, ""), nil))
	if err != nil || ok.Code() != codes.OK || ok.Message() != "" {
		t.Errorf("OK trailer: %v %v", ok, err)
	}
	for _, bad := range []string{"", "grpc-message: x\r\n", "grpc-status: x\r\n", "grpc-status: -1\r\n", "no colon\r\n"} {
		if _, _, err := DecodeTrailer([]byte(bad)); err == nil {
			t.Errorf("DecodeTrailer(%q) accepted", bad)
		}
	}
}

func TestMessageEncoding(t *testing.T) {
	for _, m := range []string{"", "plain", "100%", "%zz", "line\r\nbreak", "ünï", "%", " ", "  padded  "} {
		if got := decodeMessage(encodeMessage(m)); got != m {
			t.Errorf("round trip of %q: %q", m, got)
		}
	}
	if got := decodeMessage("a%2"); got != "a%2" {
		t.Errorf("a short escape: %q", got)
	}
}

// FuzzDecodeTrailer reads a trailer frame a replica sent. Properties: no
// panic; a decoded status encodes and decodes again to the same code,
// message and metadata.
func FuzzDecodeTrailer(f *testing.F) {
	f.Add([]byte("grpc-status: 0\r\n"))
	f.Add(EncodeTrailer(status.New(codes.NotFound, "gone 100%"), metadata.MD{"k": {"v"}, "b-bin": {"\xff"}}))
	f.Add([]byte("grpc-status: 3\r\ngrpc-status-details-bin: CAMSAXg\r\nx:y\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, md, err := DecodeTrailer(b)
		if err != nil {
			return
		}
		st2, md2, err := DecodeTrailer(EncodeTrailer(st, md))
		if err != nil {
			t.Fatalf("re-decoding %q: %v", b, err)
		}
		if st2.Code() != st.Code() || st2.Message() != st.Message() {
			t.Fatalf("status %v %q became %v %q", st.Code(), st.Message(), st2.Code(), st2.Message())
		}
		if len(md) != len(md2) {
			t.Fatalf("metadata %v became %v", md, md2)
		}
		for k, v := range md {
			if !reflect.DeepEqual(md2[k], v) {
				t.Fatalf("metadata %v became %v", md, md2)
			}
		}
	})
}

// FuzzFrames reads a request or response body as frames. Properties: no
// panic; no frame is longer than the limit; the frames read, written
// again, are the input's prefix they came from.
func FuzzFrames(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, FlagMessage, []byte("hello")), FlagTrailer, []byte("grpc-status: 0\r\n")), 8)
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff}, 1024)
	f.Add([]byte{0x80, 0, 0, 0}, 4)
	f.Fuzz(func(t *testing.T, b []byte, limit int) {
		limit = max(0, min(limit, 1<<16))
		fr := NewFrameReader(bytes.NewReader(b), limit)
		var again []byte
		for {
			flag, p, err := fr.Next()
			if err != nil {
				break
			}
			if len(p) > limit {
				t.Fatalf("a frame of %d bytes past the limit %d", len(p), limit)
			}
			again = AppendFrame(again, flag, p)
		}
		if !bytes.HasPrefix(b, again) {
			t.Fatalf("frames %q are not a prefix of %q", again, b)
		}
	})
}

// FuzzMetadata reads the metadata headers of a call. Properties: no panic;
// every key and text value is one gRPC allows; what is read survives a
// second trip unchanged.
func FuzzMetadata(f *testing.F) {
	f.Add("Application", "app1")
	f.Add("Trace-Bin", "AAEC")
	f.Add("grpc-status", "0")
	f.Add("K", "a\x00b")
	f.Fuzz(func(t *testing.T, key, value string) {
		md := Metadata(http.Header{MetadataPrefix + key: {value}, "Other": {value}})
		for k, vs := range md {
			if !validKey(k) || reserved(k) {
				t.Fatalf("key %q read", k)
			}
			for _, v := range vs {
				if !isBinary(k) && !validValue(v) {
					t.Fatalf("value %q read", v)
				}
			}
		}
		h := http.Header{}
		PutMetadata(h, md)
		if md2 := Metadata(h); !reflect.DeepEqual(md, md2) && (len(md) != 0 || len(md2) != 0) {
			t.Fatalf("%v became %v", md, md2)
		}
		if strings.Contains(key, "\n") && len(md) > 0 {
			t.Fatalf("a key with a line break read: %v", md)
		}
	})
}

func TestSplitMethod(t *testing.T) {
	for in, want := range map[string][3]string{
		"/pkg.Greeter/SayHello": {"pkg.Greeter", "SayHello", "ok"},
		"/a/b/c":                {"a/b", "c", "ok"},
		"pkg.Greeter/SayHello":  {},
		"/pkg.Greeter/":         {},
		"//SayHello":            {},
		"/":                     {},
		"":                      {},
	} {
		s, m, ok := SplitMethod(in)
		if s != want[0] || m != want[1] || ok != (want[2] == "ok") {
			t.Errorf("SplitMethod(%q) = %q, %q, %v; want %q", in, s, m, ok, want)
		}
	}
}
