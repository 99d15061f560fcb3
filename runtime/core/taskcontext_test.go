package core

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxTestKey struct{}

// A task's context makes its cancel context only when asked: it must still
// behave as context.WithCancel(base) in every order of use.
func TestTaskContextLazyCancel(t *testing.T) {
	base := context.WithValue(context.Background(), ctxTestKey{}, "v")

	t.Run("cancel before Done", func(t *testing.T) {
		tc := &taskContext{base: base, id: "t"}
		if tc.cur.Load() != nil {
			t.Fatal("made before use")
		}
		tc.cancel()
		select {
		case <-tc.Done():
		default:
			t.Fatal("Done not closed after cancel")
		}
		if !errors.Is(tc.Err(), context.Canceled) || !errors.Is(context.Cause(tc), context.Canceled) {
			t.Fatalf("Err %v, Cause %v", tc.Err(), context.Cause(tc))
		}
		tc.end()
	})

	t.Run("Done before cancel", func(t *testing.T) {
		tc := &taskContext{base: base, id: "t"}
		d := tc.Done()
		child, stop := context.WithTimeout(tc, time.Hour)
		defer stop()
		if tc.Err() != nil {
			t.Fatal(tc.Err())
		}
		tc.cancel()
		<-d
		<-child.Done()
		tc.end()
	})

	t.Run("end without use, then use", func(t *testing.T) {
		tc := &taskContext{base: base, id: "t"}
		tc.end()
		if tc.cur.Load() != nil {
			t.Fatal("end made a context nobody used")
		}
		select {
		case <-tc.Done():
		default:
			t.Fatal("a context used after its task returned is not done")
		}
		if !errors.Is(tc.Err(), context.Canceled) {
			t.Fatal(tc.Err())
		}
	})

	t.Run("values", func(t *testing.T) {
		tc := &taskContext{base: base, id: "t", hasRefs: true}
		if ParentTask(tc) != "t" || tc.Value(resultRefsKey{}) != &tc.refs {
			t.Fatal("own values")
		}
		if tc.cur.Load() != nil {
			t.Fatal("own values made the cancel context")
		}
		if tc.Value(ctxTestKey{}) != "v" {
			t.Fatal("base's value")
		}
		tc.end()
	})

	t.Run("base cancelled", func(t *testing.T) {
		b, cancel := context.WithCancel(base)
		tc := &taskContext{base: b, id: "t"}
		cancel()
		<-tc.Done()
		if !errors.Is(tc.Err(), context.Canceled) {
			t.Fatal(tc.Err())
		}
		tc.end()
	})
}
