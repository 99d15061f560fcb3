package taskevents

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func ev(task, job string, s Status, t int64) Event {
	return Event{Key: Key{TaskID: task}, JobID: job, Status: s, TimeNs: t}
}

// A task's transitions between two reports are one record; descriptions
// and places shared by records travel once per batch.
func TestBufferCoalescesAndSharesDescriptions(t *testing.T) {
	b := NewBuffer(10)
	info := &rpcpb.TaskInfo{Name: "square"}
	where := &rpcpb.TaskWhere{NodeId: "n1", WorkerId: "w1", WorkerPid: 7}
	for _, id := range []string{"a", "b"} {
		var h Handle
		e := ev(id, "j1", PendingNodeAssignment, 1)
		e.Info = info
		b.AddAt(&h, e)
		b.AddAt(&h, ev(id, "j1", SubmittedToWorker, 2))
		e = ev(id, "j1", Finished, 4)
		e.Where = where
		b.AddAt(&h, e)
	}
	batch := b.Take()
	if len(batch.Events) != 2 || len(batch.Infos) != 1 || len(batch.Wheres) != 1 || batch.JobId != "j1" {
		t.Fatalf("batch: %d events, %d infos, %d wheres, job %q", len(batch.Events), len(batch.Infos), len(batch.Wheres), batch.JobId)
	}
	a := batch.Events[0]
	if len(a.Statuses) != 3 || a.Statuses[2] != Finished || a.TimesNs[1] != 2 || a.Info != 1 || a.Where != 1 || a.JobId != "" {
		t.Fatalf("record a: %v", a)
	}
	// The GCS reads it back into one attempt.
	h := NewHistory(0)
	h.Add(batch)
	l, _ := h.List(&rpcpb.ListTasksRequest{})
	if l.Total != 2 || l.Tasks[0].State != Finished || l.Tasks[0].Info.GetName() != "square" || l.Tasks[0].WorkerPid != 7 {
		t.Fatalf("history: %v", l)
	}
}

func TestBufferDropsBeyondItsSizeAndCountsPerJob(t *testing.T) {
	b := NewBuffer(3)
	var ha Handle
	for i, job := range []string{"j1", "j1", "j2", "j2", "j1"} {
		var h Handle
		if i == 0 {
			h = ha
		}
		kept := b.AddAt(&h, ev(string(rune('a'+i)), job, Running, 1))
		if i == 0 {
			ha = h
		}
		if want := i < 3; kept != want {
			t.Fatalf("event %d kept=%v, want %v", i, kept, want)
		}
	}
	// A full buffer still takes transitions of attempts it holds.
	if !b.AddAt(&ha, ev("a", "j1", Finished, 2)) {
		t.Fatal("a transition of a held attempt was dropped")
	}
	batch := b.Take()
	if len(batch.Events) != 3 || batch.Dropped["j2"] != 1 || batch.Dropped["j1"] != 1 {
		t.Fatalf("batch: %d events, dropped %v; want 3 events, j1:1 j2:1", len(batch.Events), batch.Dropped)
	}
	if b.Dropped() != 2 {
		t.Fatalf("Dropped() = %d, want 2", b.Dropped())
	}
	// Room again after a Take; the drop counts start over.
	b.Add(ev("f", "j1", Finished, 3))
	batch = b.Take()
	if len(batch.Events) != 1 || len(batch.Dropped) != 0 || batch.Events[0].TaskId != "f" || batch.Events[0].Statuses[0] != Finished {
		t.Fatalf("second batch: %v", batch)
	}
	if b.Take() != nil {
		t.Fatal("an empty buffer gave a batch")
	}
}

// A stale handle (from before a Take) starts a new record; the GCS merges.
func TestStaleHandleStartsANewRecord(t *testing.T) {
	b := NewBuffer(10)
	var h Handle
	b.AddAt(&h, ev("a", "j", SubmittedToWorker, 1))
	first := b.Take()
	b.AddAt(&h, ev("b", "j", Running, 2)) // another attempt through a's old handle
	b.AddAt(&h, ev("b", "j", Finished, 3))
	second := b.Take()
	if len(first.Events) != 1 || len(second.Events) != 1 || second.Events[0].TaskId != "b" || len(second.Events[0].Statuses) != 2 {
		t.Fatalf("first %v, second %v", first.Events, second.Events)
	}
}

func TestRequeueKeepsTheNewestAndCountsTheRest(t *testing.T) {
	b := NewBuffer(4)
	for _, id := range []string{"a", "b", "c"} {
		b.Add(ev(id, "j", Running, 1))
	}
	failed := b.Take()
	b.Add(ev("d", "j", Running, 1))
	b.Add(ev("e", "j", Running, 1))
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
	go func() { Report(ctx, b, 10*time.Millisecond, send, nil); close(done) }()
	b.Add(ev("a", "", Running, 1))
	deadline := time.Now().Add(5 * time.Second)
	for delivered.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	b.Add(ev("b", "", Finished, 2))
	cancel()
	<-done
	if delivered.Load() != 2 || calls.Load() < 2 {
		t.Fatalf("delivered %d events in %d calls; want both, after a failed call", delivered.Load(), calls.Load())
	}
}
