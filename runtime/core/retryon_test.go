package core

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

type busyError struct{ after int }

func (e *busyError) Error() string { return fmt.Sprintf("busy, retry after %d", e.after) }

type valueError struct{}

func (valueError) Error() string { return "value" }

var errFlaky = errors.New("flaky")

func TestErrorKindsMatchAsErrorsIsAndAs(t *testing.T) {
	kinds := []string{ErrorKind(errFlaky), ErrorKind((*busyError)(nil)), ErrorKind(io.ErrUnexpectedEOF)}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errFlaky, true},
		{fmt.Errorf("step 2: %w", errFlaky), true},                          // wrapped
		{errors.Join(errors.New("a"), fmt.Errorf("b: %w", errFlaky)), true}, // joined
		{errors.New("flaky"), true},                                         // a sentinel is known by type and message
		{errors.New("flaky too"), false},
		{&busyError{after: 3}, true}, // any error of the type
		{fmt.Errorf("call: %w", &busyError{after: 1}), true},
		{valueError{}, false},
		{io.EOF, false},
		{fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{&fs.PathError{Op: "open", Path: "x", Err: io.ErrUnexpectedEOF}, true},
		{(*busyError)(nil), true}, // its Error panics: matched by type, no crash
	} {
		if got := matchesKinds(c.err, kinds); got != c.want {
			t.Errorf("matchesKinds(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if ErrorKind(errFlaky) == ErrorKind(errors.New("other")) || ErrorKind((*busyError)(nil)) == ErrorKind(&busyError{}) {
		t.Fatal("distinct kinds are equal")
	}
}

func TestRetryableInfo(t *testing.T) {
	spec := &rpcpb.TaskSpec{Name: "f", RetryOn: []string{ErrorKind(errFlaky)}}
	if !retryableInfo(taskErrInfo("f", errFlaky), spec, errFlaky).Retryable {
		t.Fatal("an error of a listed kind is not retryable")
	}
	if retryableInfo(taskErrInfo("f", io.EOF), spec, io.EOF).Retryable {
		t.Fatal("an error of no listed kind is retryable")
	}
	// Without kinds the caller retries any error; the flag is not needed.
	if retryableInfo(taskErrInfo("f", io.EOF), &rpcpb.TaskSpec{}, io.EOF).Retryable {
		t.Fatal("flag set without kinds")
	}
}
