package taskevents

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
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
	b := NewBuffer(10, 0)
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
	b := NewBuffer(3, 0)
	var ha Handle
	for i, job := range []string{"j1", "j1", "j2", "j2", "j1"} {
		h := new(Handle)
		if i == 0 {
			h = &ha
		}
		kept := b.AddAt(h, ev(string(rune('a'+i)), job, Running, 1))
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

// DropIfFull answers for a new attempt only, and only once the buffer has
// turned one away: it counts the drop the event would have been.
func TestDropIfFullCountsWhatAddAtWouldDrop(t *testing.T) {
	b := NewBuffer(2, 0)
	var ha, hb, hc Handle
	if b.DropIfFull(&ha, "j", 0) {
		t.Fatal("an empty buffer dropped")
	}
	b.AddAt(&ha, ev("a", "j", Running, 1))
	b.AddAt(&hb, ev("b", "j", Running, 1))
	if b.DropIfFull(&hc, "j", 0) {
		t.Fatal("dropped before the buffer turned anything away")
	}
	if b.AddAt(&hc, ev("c", "j", Running, 1)) {
		t.Fatal("a third attempt kept in a buffer of two")
	}
	var hd Handle
	if !b.DropIfFull(&hc, "j", 0) || !b.DropIfFull(&hd, "j", 0) || b.DropIfFull(&ha, "j", 0) {
		t.Fatal("DropIfFull: want true for c and d (no record), false for a (held)")
	}
	// c's and d's first drops were counted; their later transitions are
	// dropped too, and not counted again.
	if batch := b.Take(); batch.Dropped["j"] != 2 || b.Dropped() != 2 {
		t.Fatalf("dropped %v (total %d), want j:2", batch.Dropped, b.Dropped())
	}
	if !b.DropIfFull(&hc, "j", 0) || b.AddAt(&hc, ev("c", "j", Finished, 2)) {
		t.Fatal("a transition of an attempt that lost one was kept")
	}
	// Its next attempt, and other attempts, have room again.
	if b.DropIfFull(&hc, "j", 1) || b.DropIfFull(new(Handle), "j", 0) {
		t.Fatal("dropped after a Take made room")
	}
	if b.Take() != nil {
		t.Fatal("drops counted again")
	}
}

// AddRuns adds like AddAt, each run into its attempt's record, with the
// description on the first transition and the error on the last.
func TestAddRunsMergeIntoEachAttempt(t *testing.T) {
	b := NewBuffer(10, 0)
	hs := []*Handle{{}, {}, {}}
	for i := range hs {
		b.AddAt(hs[i], ev(strconv.Itoa(i), "j", PendingNodeAssignment, 1))
	}
	info := &rpcpb.TaskInfo{Name: "f"}
	runs := make([]Run, len(hs))
	for i := range runs {
		runs[i] = Run{Key: Key{TaskID: strconv.Itoa(i)}, JobID: "j", Info: info, ErrType: "TASK_EXECUTION_EXCEPTION", ErrMsg: "boom"}
		runs[i].Append(SubmittedToWorker, 2)
		runs[i].Append(Failed, 3)
	}
	b.AddRuns(hs, runs)
	batch := b.Take()
	if len(batch.Events) != 3 || len(batch.Infos) != 1 {
		t.Fatalf("%d records and %d descriptions, want 3 and 1", len(batch.Events), len(batch.Infos))
	}
	for i, e := range batch.Events {
		if e.TaskId != strconv.Itoa(i) || !slices.Equal(e.Statuses, []Status{PendingNodeAssignment, SubmittedToWorker, Failed}) ||
			!slices.Equal(e.TimesNs, []int64{1, 2, 3}) || e.Info != 1 || e.ErrorMessage != "boom" {
			t.Fatalf("record %d: %v", i, e)
		}
	}
}

// A run longer than a record continues in a new one; a full run takes no more.
func TestRunOverflowsIntoANewRecord(t *testing.T) {
	var r Run
	r.Key, r.JobID = Key{TaskID: "a"}, "j"
	for i := range maxTransitions {
		if !r.Append(Running, int64(i+1)) {
			t.Fatalf("transition %d refused", i)
		}
	}
	if r.Append(Finished, 99) {
		t.Fatal("a full run took another transition")
	}
	b := NewBuffer(10, 0)
	var h Handle
	b.AddAt(&h, ev("a", "j", PendingNodeAssignment, 0))
	if !b.AddRun(&h, &r) {
		t.Fatal("run dropped")
	}
	batch := b.Take()
	if len(batch.Events) != 2 || len(batch.Events[0].Statuses) != maxTransitions || len(batch.Events[1].Statuses) != 1 {
		t.Fatalf("records %v", batch.Events)
	}
}

// A stale handle (from before a Take) starts a new record; the GCS merges.
func TestStaleHandleStartsANewRecord(t *testing.T) {
	b := NewBuffer(10, 0)
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

func TestRequeueAppendsAsFarAsThereIsRoomAndCountsTheRest(t *testing.T) {
	b := NewBuffer(4, 0)
	for _, id := range []string{"a", "b", "c"} {
		b.Add(ev(id, "j", Running, 1))
	}
	failed := b.Take()
	b.Add(ev("d", "j", Running, 1))
	b.Add(ev("e", "j", Running, 1))
	b.Requeue(failed) // room for 2 of its 3
	batch := b.Take()
	var ids string
	for _, e := range batch.Events {
		ids += e.TaskId
	}
	if ids != "deab" || batch.Dropped["j"] != 1 || b.Dropped() != 1 {
		t.Fatalf("after requeue: %q dropped %v total %d; want deab, j:1, 1", ids, batch.Dropped, b.Dropped())
	}
}

// A report carries at most the batch size, the oldest records first; the
// rest stay, and their attempts' handles still find them.
func TestTakeSendsTheOldestBatchAndKeepsTheRestOpen(t *testing.T) {
	b := NewBuffer(0, 2)
	hs := make([]Handle, 3)
	for i, id := range []string{"a", "b", "c"} {
		b.AddAt(&hs[i], ev(id, "j", SubmittedToWorker, 1))
	}
	first := b.Take()
	b.AddAt(&hs[2], ev("c", "j", Finished, 2)) // still open
	b.AddAt(&hs[0], ev("a", "j", Finished, 2)) // a was sent: a new record
	second := b.Take()
	if len(first.Events) != 2 || first.Events[0].TaskId != "a" || first.Events[1].TaskId != "b" {
		t.Fatalf("first batch %v", first.Events)
	}
	if len(second.Events) != 2 || second.Events[0].TaskId != "c" || len(second.Events[0].Statuses) != 2 || second.Events[1].TaskId != "a" {
		t.Fatalf("second batch %v", second.Events)
	}
	if b.Take() != nil || b.Len() != 0 {
		t.Fatal("records left after two batches")
	}
}

// Random adds, takes and failed sends against a model: every transition
// the buffer kept reaches a batch exactly once, in order within its
// attempt; an attempt that loses a transition loses the rest, and the
// loss is counted once (a requeued record that finds no room, once too).
func TestBufferAgainstAModel(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(uint64(seed), 7))
		maxRecs := 1 + rng.IntN(3*chunkSize)
		b := NewBuffer(maxRecs, 1+rng.IntN(2*chunkSize))
		const attempts = 3000
		// Some ids too long for a record, some transitions with an error
		// or a description: the side and interned tables are exercised too.
		ids, index := make([]string, attempts), map[string]int{}
		infos := []*rpcpb.TaskInfo{{Name: "f"}, {Name: "g"}, {Name: "h"}}
		for i := range ids {
			ids[i] = strconv.Itoa(i)
			if i%5 == 0 {
				ids[i] = strings.Repeat("long-", 8) + ids[i]
			}
			index[ids[i]] = i
		}
		hs := make([]Handle, attempts)
		want := make([][]int64, attempts) // kept transitions per attempt (their times)
		got := make([][]int64, attempts)
		lost := make([]bool, attempts)
		var dropped, reportedDrops int64
		deliver := func(batch *rpcpb.TaskEventBatch) {
			for _, n := range batch.Dropped {
				reportedDrops += n
			}
			for _, e := range batch.Events {
				i, ok := index[e.TaskId]
				if !ok {
					t.Fatalf("seed %d: unknown task id %q", seed, e.TaskId)
				}
				got[i] = append(got[i], e.TimesNs...)
				if e.ErrorType != "" && e.ErrorType != "E"+ids[i] {
					t.Fatalf("seed %d: %s has error %q", seed, ids[i], e.ErrorType)
				}
				if e.Info != 0 && batch.Infos[e.Info-1] != infos[i%len(infos)] {
					t.Fatalf("seed %d: %s described as %v", seed, ids[i], batch.Infos[e.Info-1])
				}
			}
		}
		for step := int64(1); step <= 40_000; step++ {
			switch r := rng.IntN(1000); {
			case r < 990:
				i := rng.IntN(attempts)
				e := ev(ids[i], "j"+strconv.Itoa(i%3), Running, step)
				switch rng.IntN(4) {
				case 0:
					e.ErrType = "E" + ids[i]
				case 1:
					e.Info = infos[i%len(infos)]
				}
				kept := b.AddAt(&hs[i], e)
				switch {
				case kept && lost[i]:
					t.Fatalf("seed %d: attempt %d kept a transition after it lost one", seed, i)
				case kept:
					want[i] = append(want[i], step)
				case !lost[i]:
					lost[i] = true
					dropped++
				}
				if b.Len() > maxRecs {
					t.Fatalf("seed %d: %d records held, bound %d", seed, b.Len(), maxRecs)
				}
			case r < 997:
				if batch := b.Take(); batch != nil {
					deliver(batch)
				}
			default:
				b.Requeue(b.Take()) // a send that failed
			}
		}
		for batch := b.Take(); batch != nil; batch = b.Take() {
			deliver(batch)
		}
		// A requeued record goes to the back, so one attempt's records may
		// arrive out of order: compare as sets of times, which are unique.
		// A requeued transition may find no room: it is then dropped.
		var requeueLost int64
		for i := range want {
			slices.Sort(got[i])
			j := 0
			for _, w := range want[i] {
				if j < len(got[i]) && got[i][j] == w {
					j++
				} else {
					requeueLost++
				}
			}
			if j != len(got[i]) {
				t.Fatalf("seed %d: attempt %d: kept %v, delivered %v", seed, i, want[i], got[i])
			}
		}
		// Each requeued record that found no room counts once, however
		// many of its transitions it lost.
		extra := b.Dropped() - dropped
		if b.Dropped() != reportedDrops || extra < 0 || extra > requeueLost || (requeueLost > 0) != (extra > 0) {
			t.Fatalf("seed %d: %d attempts lost, %d transitions lost requeued; Dropped() %d, reported %d",
				seed, dropped, requeueLost, b.Dropped(), reportedDrops)
		}
	}
}

// The reporter sends every interval, puts a failed batch back and sends the
// rest when its context ends.
func TestReportRetriesAndFlushesAtTheEnd(t *testing.T) {
	b := NewBuffer(100, 0)
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

// BenchmarkOwnerAttempt is what an owner's buffer does for one task that
// runs and finishes between two reports: four transitions (two with a
// clock read, as the owner takes them), and a report every 10,000.
func BenchmarkOwnerAttempt(b *testing.B) {
	buf := NewBuffer(0, 0)
	info := &rpcpb.TaskInfo{Name: "pkg.square"}
	where := &rpcpb.TaskWhere{NodeId: "n1", WorkerId: "w1"}
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = fmt.Sprintf("%012x%016x", 0xb3fdb24ce4b7, i)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		var h Handle
		k := Key{TaskID: ids[i&(len(ids)-1)]}
		buf.AddAt(&h, Event{Key: k, JobID: "01000000", Status: PendingNodeAssignment, TimeNs: Now(), Info: info})
		buf.AddAt(&h, Event{Key: k, JobID: "01000000", Status: SubmittedToWorker, TimeNs: 2})
		buf.AddAt(&h, Event{Key: k, JobID: "01000000", Status: Running, TimeNs: 3, Where: where})
		buf.AddAt(&h, Event{Key: k, JobID: "01000000", Status: Finished, TimeNs: Now(), Where: where})
		if i%10_000 == 9_999 {
			buf.Take()
		}
	}
}
