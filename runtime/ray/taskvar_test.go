package ray

import (
	"bytes"
	"context"
	"testing"
)

// joinAll concatenates its arguments, values and Refs alike, in order.
var joinAll = TaskVar("sdk.joinAll", func(ctx context.Context, parts [][]byte) ([]byte, error) {
	return bytes.Join(parts, []byte("|")), nil
})

func TestTaskVar(t *testing.T) {
	ctx := context.Background()
	big := bytes.Repeat([]byte("x"), 200<<10) // in the object store, not inline
	ref, err := Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []any
		want []byte
	}{
		{nil, []byte{}},
		{[]any{[]byte("a")}, []byte("a")},
		{[]any{[]byte("a"), ref, []byte("b")}, append(append([]byte("a|"), big...), "|b"...)},
	} {
		got, err := Get(ctx, joinAll.Remote(ctx, tc.args...))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, tc.want) {
			t.Fatalf("joinAll(%d args) = %d bytes, want %d", len(tc.args), len(got), len(tc.want))
		}
	}
	if _, err := Get(ctx, joinAll.Remote(ctx, 1)); err == nil {
		t.Fatal("an int argument to a task of []byte arguments")
	}
}
