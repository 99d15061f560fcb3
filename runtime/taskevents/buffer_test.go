package taskevents

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestBufferDropsBeyondItsSizeAndCountsPerJob(t *testing.T) {
	b := NewBuffer(3)
	for i, job := range []string{"j1", "j1", "j2", "j2", "j1"} {
		kept := b.Add(Event{TaskID: string(rune('a' + i)), JobID: job, Status: Running})
		if want := i < 3; kept != want {
			t.Fatalf("event %d kept=%v, want %v", i, kept, want)
		}
	}
	batch := b.Take()
	if len(batch.Events) != 3 || batch.Dropped["j2"] != 1 || batch.Dropped["j1"] != 1 {
		t.Fatalf("batch: %d events, dropped %v; want 3 events, j1:1 j2:1", len(batch.Events), batch.Dropped)
	}
	if b.Dropped() != 2 {
		t.Fatalf("Dropped() = %d, want 2", b.Dropped())
	}
	// Room again after a Take; the drop counts start over.
	b.Add(Event{TaskID: "f", JobID: "j1", Status: Finished})
	batch = b.Take()
	if len(batch.Events) != 1 || len(batch.Dropped) != 0 || batch.Events[0].TaskId != "f" || batch.Events[0].Status != Finished {
		t.Fatalf("second batch: %v", batch)
	}
	if b.Take() != nil {
		t.Fatal("an empty buffer gave a batch")
	}
}

func TestRequeueKeepsTheNewestAndCountsTheRest(t *testing.T) {
	b := NewBuffer(4)
	for _, id := range []string{"a", "b", "c"} {
		b.Add(Event{TaskID: id, JobID: "j", Status: Running})
	}
	failed := b.Take()
	b.Add(Event{TaskID: "d", JobID: "j", Status: Running})
	b.Add(Event{TaskID: "e", JobID: "j", Status: Running})
	b.Requeue(failed) // room for 2 of its 3: the oldest (a) goes
	batch := b.Take()
	var ids string
	for _, e := range batch.Events {
		ids += e.TaskId
	}
	if ids != "bcde" || batch.Dropped["j"] != 1 || b.Dropped() != 1 {
		t.Fatalf("after requeue: %q dropped %v total %d; want bcde, j:1, 1", ids, batch.Dropped, b.Dropped())
	}
}

// The reporter sends every interval, puts a failed batch back and sends the
// rest when its context ends.
func TestReportRetriesAndFlushesAtTheEnd(t *testing.T) {
	b := NewBuffer(100)
	var calls, delivered atomic.Int32
	send := func(ctx context.Context, batch *rpcpb.TaskEventBatch) error {
		if calls.Add(1) == 1 {
			return errors.New("GCS unavailable")
		}
		delivered.Add(int32(len(batch.Events)))
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { Report(ctx, b, 10*time.Millisecond, send); close(done) }()
	b.Add(Event{TaskID: "a", Status: Running})
	deadline := time.Now().Add(5 * time.Second)
	for delivered.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.Add(Event{TaskID: "b", Status: Finished})
	cancel()
	<-done
	if delivered.Load() != 2 || calls.Load() < 2 {
		t.Fatalf("delivered %d events in %d calls; want both, after a failed call", delivered.Load(), calls.Load())
	}
}
