package core

import (
	"fmt"
	"reflect"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Error kinds name the errors a task is retried on (Ray's retry_exceptions
// list of exception classes) across processes: the caller lists them, the
// worker that ran the task tells whether its error is of one of them (it
// holds the error value; the caller has only its message).
//
// A kind made from a nil pointer of an error type, (*MyError)(nil), is
// that type: errors.As's match. A kind made from any other error value is
// that value, known by its type and message: errors.Is's match of a
// sentinel error (a package-level errors.New), which has the same type and
// message in every process running the binary.

// ErrorKind is the kind err stands for.
func ErrorKind(err error) string {
	if v := reflect.ValueOf(err); v.Kind() == reflect.Pointer && v.IsNil() {
		return "as:" + fmt.Sprintf("%T", err)
	}
	return "is:" + fmt.Sprintf("%T", err) + "\x00" + err.Error()
}

// matchesKinds reports whether err, or an error it wraps, is of one of
// kinds.
func matchesKinds(err error, kinds []string) bool {
	want := make(map[string]bool, len(kinds))
	for _, k := range kinds {
		want[k] = true
	}
	found := false
	walkErrors(err, func(e error) bool {
		t := fmt.Sprintf("%T", e)
		found = want["as:"+t] || want["is:"+t+"\x00"+safeMessage(e)]
		return !found
	})
	return found
}

// walkErrors calls fn with err and each error it wraps (Unwrap() error and
// Unwrap() []error, as errors.Is does), depth first, until fn returns
// false.
func walkErrors(err error, fn func(error) bool) bool {
	for err != nil {
		if !fn(err) {
			return false
		}
		switch u := err.(type) { //nolint:errorlint // walking the chain by hand, as errors.Is does
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				if !walkErrors(e, fn) {
					return false
				}
			}
			return true
		default:
			return true
		}
	}
	return true
}

// safeMessage is e.Error(), or "" when a nil pointer's method panics.
func safeMessage(e error) (msg string) {
	defer func() {
		if recover() != nil {
			msg = ""
		}
	}()
	return e.Error()
}

// retryableInfo marks a task error the caller may retry: any error when
// the spec lists no kinds, else one of them.
func retryableInfo(info *rpcpb.ErrorInfo, spec *rpcpb.TaskSpec, err error) *rpcpb.ErrorInfo {
	if len(spec.RetryOn) > 0 {
		info.Retryable = matchesKinds(err, spec.RetryOn)
	}
	return info
}
