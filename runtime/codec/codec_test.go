package codec

import (
	"reflect"
	"testing"
)

type point struct{ X, Y int }

func roundTrip[T any](t *testing.T, v T) {
	t.Helper()
	b, err := Encode(v)
	if err != nil {
		t.Fatal(err)
	}
	var out T
	if err := Decode(b, &out); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(v, out) {
		t.Fatalf("round trip %v -> %v", v, out)
	}
}

func TestRoundTrip(t *testing.T) {
	roundTrip(t, 42)
	roundTrip(t, int64(-7))
	roundTrip(t, 3.5)
	roundTrip(t, "hi")
	roundTrip(t, []byte{1, 2, 3})
	roundTrip(t, true)
	roundTrip(t, point{1, 2})
	roundTrip(t, []int{1, 2})
	roundTrip(t, map[string]int{"a": 1})
}

func TestMismatchIsAnError(t *testing.T) {
	b, _ := Encode("text")
	var n int
	if err := Decode(b, &n); err == nil {
		t.Fatal("decoding a string into an int must fail")
	}
	if _, err := Encode(make(chan int)); err == nil {
		t.Fatal("encoding a channel must fail")
	}
}

func TestWidening(t *testing.T) {
	type myInt int
	b, _ := Encode(5)
	var v myInt
	if err := Decode(b, &v); err != nil || v != 5 {
		t.Fatalf("got %v %v", v, err)
	}
	var f float64
	if err := Decode(b, &f); err != nil || f != 5 {
		t.Fatalf("got %v %v", f, err)
	}
}
