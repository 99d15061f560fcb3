package codec

import (
	"bytes"
	"math"
	"reflect"
	"testing"
)

type myInt int

// fuzzTargets are the types Decode is asked to fill from arbitrary bytes:
// each fast path, the JSON path, the widening path (named and unsigned
// types) and any.
var fuzzTargets = []func() any{
	func() any { return new(int) },
	func() any { return new(int64) },
	func() any { return new(int32) },
	func() any { return new(uint8) },
	func() any { return new(myInt) },
	func() any { return new(float64) },
	func() any { return new(float32) },
	func() any { return new(string) },
	func() any { return new([]byte) },
	func() any { return new(bool) },
	func() any { return new(any) },
	func() any { return new(point) },
	func() any { return new([]int) },
	func() any { return new(map[string]int) },
	func() any { return new(*point) },
}

// FuzzDecode decodes arbitrary bytes into each target type. Decode must not
// panic: the bytes come from other processes (task arguments, results,
// objects). What decodes must re-encode, and the re-encoding must decode to
// the same value and encode to the same bytes (Encode∘Decode is a fixed
// point). A string or byte string decodes to exactly its body.
func FuzzDecode(f *testing.F) {
	for _, v := range []any{nil, 0, -1, int64(math.MaxInt64), int64(math.MinInt64), int32(-7), 3.5, math.Inf(-1), math.NaN(),
		"", "hi", []byte{}, []byte{0, 1, 2}, true, false, point{1, 2}, []int{1, 2}, map[string]int{"a": 1}} {
		b, err := Encode(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Malformed scalars: a short float, an empty bool, a truncated and an
	// overlong varint, a varint with trailing bytes, an unknown tag.
	for _, b := range [][]byte{{tagFloat, 1, 2}, {tagBool}, {tagInt}, {tagInt, 0x80}, {tagInt, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{tagInt, 2, 9}, {tagJSON, '{'}, {200, '1'}} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		in := bytes.Clone(b)
		for _, target := range fuzzTargets {
			ptr := target()
			if err := Decode(b, ptr); err != nil {
				continue
			}
			if !bytes.Equal(b, in) {
				t.Fatalf("Decode into %T changed its input", ptr)
			}
			v1 := reflect.ValueOf(ptr).Elem().Interface()
			if x, ok := v1.([]byte); ok && x == nil {
				v1 = []byte{} // nil (from a nil value) encodes as the empty byte string
			}
			// The fast paths take the body as it is. (Other types go through
			// JSON: bytes decoded into a string are base64, a longer string.)
			switch x := v1.(type) {
			case string:
				if b[0] == tagString && x != string(b[1:]) {
					t.Fatalf("a string decoded as %q from %q", x, b)
				}
			case []byte:
				if b[0] == tagBytes && !bytes.Equal(x, b[1:]) {
					t.Fatalf("bytes decoded as %q from %q", x, b)
				}
			}
			enc1, err := Encode(v1)
			if err != nil {
				t.Fatalf("decoded %#v into %T but cannot encode it: %v", v1, ptr, err)
			}
			ptr2 := target()
			if err := Decode(enc1, ptr2); err != nil {
				t.Fatalf("%#v (%T) encoded as %q does not decode: %v", v1, ptr, enc1, err)
			}
			v2 := reflect.ValueOf(ptr2).Elem().Interface()
			enc2, err := Encode(v2)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(enc1, enc2) {
				t.Fatalf("%T: %q decodes to %#v, encodes as %q, decodes to %#v, encodes as %q", ptr, b, v1, enc1, v2, enc2)
			}
			if enc1[0] != tagFloat && !reflect.DeepEqual(v1, v2) { // NaN != NaN
				t.Fatalf("%T: round trip %#v -> %q -> %#v", ptr, v1, enc1, v2)
			}
		}
	})
}

// FuzzRoundTrip encodes scalar values and decodes them back into their own
// type and into any: decode(encode(x)) == x for every value of the types the
// fast path carries.
func FuzzRoundTrip(f *testing.F) {
	f.Add(int64(0), 0.0, "", []byte(nil), false)
	f.Add(int64(math.MinInt64), math.Inf(1), "héllo\x00", []byte{0xff, 0}, true)
	f.Add(int64(math.MaxInt64), math.Copysign(0, -1), `{"json":1}`, []byte(`"s"`), true)
	f.Fuzz(func(t *testing.T, i int64, fl float64, s string, b []byte, bo bool) {
		same := func(a, b any) bool {
			if fa, ok := a.(float64); ok {
				fb, ok := b.(float64)
				return ok && math.Float64bits(fa) == math.Float64bits(fb)
			}
			return reflect.DeepEqual(a, b)
		}
		if b == nil {
			b = []byte{} // Decode gives the (empty) rest of its input, not nil
		}
		check := func(v any, ptr any) {
			t.Helper()
			enc, err := Encode(v)
			if err != nil {
				t.Fatalf("encode %#v: %v", v, err)
			}
			if n, ok := EncodedSize(v); ok {
				if n != len(enc) {
					t.Fatalf("EncodedSize(%#v) = %d, Encode wrote %d", v, n, len(enc))
				}
				dst := make([]byte, n)
				EncodeTo(dst, v)
				if !bytes.Equal(dst, enc) {
					t.Fatalf("EncodeTo(%#v) = %q, Encode = %q", v, dst, enc)
				}
			}
			if err := Decode(enc, ptr); err != nil {
				t.Fatalf("decode %#v from %q into %T: %v", v, enc, ptr, err)
			}
			if got := reflect.ValueOf(ptr).Elem().Interface(); !same(got, v) {
				t.Fatalf("round trip into %T: %#v -> %q -> %#v", ptr, v, enc, got)
			}
			var a any
			if err := Decode(enc, &a); err != nil {
				t.Fatalf("decode %#v from %q into any: %v", v, enc, err)
			}
			want := v
			if x, ok := v.(int64); ok {
				want = int(x) // any holds ints as int
			}
			if !same(a, want) {
				t.Fatalf("round trip into any: %#v -> %q -> %#v", v, enc, a)
			}
		}
		check(i, new(int64))
		check(fl, new(float64))
		check(s, new(string))
		check(b, new([]byte))
		check(bo, new(bool))
	})
}
