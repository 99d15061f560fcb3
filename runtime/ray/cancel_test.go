package ray

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var cancelSlow = Task("test.cancelSlow", func(ctx context.Context, ms int) (int, error) {
	time.Sleep(time.Duration(ms) * time.Millisecond)
	return ms, nil
})

// cancelMark creates the file path when it runs.
var cancelMark = Task2("test.cancelMark", func(ctx context.Context, _ int, path string) (bool, error) {
	return true, os.WriteFile(path, nil, 0o600)
})

// A task cancelled while it waits for an argument never runs, also once
// the argument is ready.
func TestCancelWhileWaitingForArguments(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ran")
	arg := cancelSlow.Remote(ctx, 300)
	ref := cancelMark.Remote(ctx, arg, path)
	if err := Cancel(ref, false); err != nil {
		t.Fatal(err)
	}
	var tce *TaskCancelledError
	if _, err := Get(ctx, ref); !errors.As(err, &tce) {
		t.Fatalf("Get of the cancelled task: %v", err)
	}
	if _, err := Get(ctx, arg); err != nil {
		t.Fatal(err)
	}
	// Time for it to have run had it been sent.
	time.Sleep(time.Second)
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the cancelled task ran once its argument was ready")
	}
}
