package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

var errTransient = errors.New("transient")

type quotaError struct{ run int }

func (e *quotaError) Error() string { return fmt.Sprintf("over quota at run %d", e.run) }

// failsTimes fails its first `fails` runs with an error of kind ("sentinel":
// wraps errTransient, "typed": a *quotaError, "other": neither), then
// returns how many runs it took. Runs are counted in a file of dir.
var failsTimes = ray.Task3("it.fails_times", func(ctx context.Context, dir string, fails int, kind string) (int, error) {
	f, err := os.OpenFile(filepath.Join(dir, "runs"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return 0, err
	}
	_, err = f.Write([]byte{'.'})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	runs := runsIn(dir)
	if runs > fails {
		return runs, nil
	}
	switch kind {
	case "sentinel":
		return 0, fmt.Errorf("run %d: %w", runs, errTransient)
	case "typed":
		return 0, fmt.Errorf("run %d: %w", runs, &quotaError{run: runs})
	}
	return 0, fmt.Errorf("run %d: permanent", runs)
})

func runsIn(dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "runs"))
	return len(b)
}

// RetryExceptions with error kinds retries only errors of those kinds
// (Ray's retry_exceptions=[...]): a wrapped sentinel (errors.Is) and a
// wrapped error type (errors.As) are retried until the task succeeds; an
// error of another kind fails the task at its first run; without kinds any
// error is retried. The attempts are spread over the head and two nodes.
func TestRetryExceptionsOfKinds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range []struct {
		name     string
		kind     string
		opt      ray.Option
		wantRuns int
		wantErr  string
	}{
		{"sentinel listed", "sentinel", ray.RetryExceptions(errTransient), 3, ""},
		{"type listed", "typed", ray.RetryExceptions(errors.ErrUnsupported, (*quotaError)(nil)), 3, ""},
		{"other kind", "other", ray.RetryExceptions(errTransient, (*quotaError)(nil)), 1, "permanent"},
		{"sentinel, only a type listed", "sentinel", ray.RetryExceptions((*quotaError)(nil)), 1, "transient"},
		{"any error", "other", ray.RetryExceptions(), 3, ""},
		{"no retries", "sentinel", ray.MaxRetries(3), 1, "transient"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			got, err := ray.Get(ctx, failsTimes.Remote(ctx, dir, 2, c.kind, c.opt, ray.MaxRetries(3), ray.SchedulingSpread()))
			runs := runsIn(dir)
			if c.wantErr == "" && (err != nil || got != c.wantRuns) {
				t.Fatalf("got %d, %v after %d runs; want success at run %d", got, err, runs, c.wantRuns)
			}
			if c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("got %d, %v; want an error saying %q", got, err, c.wantErr)
			}
			if runs != c.wantRuns {
				t.Fatalf("%d runs, want %d", runs, c.wantRuns)
			}
		})
	}
}
