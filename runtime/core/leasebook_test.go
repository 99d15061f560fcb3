package core

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// TestLeaseBookScenarios drives one queue's leased-worker bookkeeping from
// testdata/leasebook.txt. "new" starts a queue (fast: its tasks are known
// to be short; spread, generator: never fast; idle=the lease idle timeout)
// with the clock at 0; tasks are named on "submit" with their retry budget
// (retries=, default 3) and options (retry-exceptions, retry-on); leases
// are named on "grant" (node=), which is also the end of the lease request
// that brought it. Results take 5ms unless us= says otherwise. Each command prints the actions the Worker
// would take, in order, or "no action".
func TestLeaseBookScenarios(t *testing.T) {
	var (
		b       *leaseBook
		now     time.Time
		tasks   map[string]*pendingTask
		retries map[string]int
		leases  map[string]*leasedWorker
	)
	lease := func(t *testing.T, d *datadriven.TestData, id string) *leasedWorker {
		lw, ok := leases[id]
		if !ok {
			d.Fatalf(t, "no lease %s", id)
		}
		return lw
	}
	task := func(t *testing.T, d *datadriven.TestData, id string) *pendingTask {
		pt, ok := tasks[id]
		if !ok {
			d.Fatalf(t, "no task %s", id)
		}
		return pt
	}
	first := func(d *datadriven.TestData) string {
		if len(d.Args) == 0 {
			return ""
		}
		return d.Args[0].Key
	}
	datadriven.RunTest(t, "testdata/leasebook.txt", func(t *testing.T, d *datadriven.TestData) string {
		var acts []leaseAct
		switch d.Cmd {
		case "new":
			idle, err := time.ParseDuration(d.Val("idle", "20ms"))
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			now, tasks, retries, leases = time.Unix(0, 0), map[string]*pendingTask{}, map[string]int{}, map[string]*leasedWorker{}
			_, fast := d.Arg("fast")
			_, spread := d.Arg("spread")
			_, gen := d.Arg("generator")
			b = &leaseBook{idle: idle, fast: fast, noFast: spread || gen, now: func() time.Time { return now }}
			b.retry = func(pt *pendingTask) bool {
				id := pt.spec.TaskId
				if retries[id] == 0 {
					return false
				}
				if retries[id] > 0 {
					retries[id]--
				}
				return true
			}
			return "ok"
		case "submit":
			// submit t1,t2 [retries=N] [retry-exceptions] [retry-on=K]
			ids := strings.Split(first(d), ",")
			n, err := strconv.Atoi(d.Val("retries", "3"))
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			_, rex := d.Arg("retry-exceptions")
			on, _ := d.Arg("retry-on")
			for _, id := range ids {
				pt := &pendingTask{spec: &rpcpb.TaskSpec{TaskId: id, Name: "f", RetryOn: on}, opts: TaskOptions{MaxRetries: n, RetryExceptions: rex}}
				tasks[id], retries[id] = pt, n
				acts = b.submit(acts, pt)
			}
		case "grant":
			// grant L1 node=n1: a lease request brought a worker.
			id := first(d)
			lw := &leasedWorker{lease: &rpcpb.LeaseReply{LeaseId: id, NodeId: d.Val("node", "n1")}, inflight: map[string]*pendingTask{}}
			leases[id] = lw
			acts = b.granted(acts, lw)
			// Its request ends as it attached the worker.
			acts = b.leaseDone(acts)
		case "attach-failed":
			acts = b.attachFailed(acts)
		case "lease-done":
			acts = b.leaseDone(acts)
		case "results":
			// results L1 t1,t2 [us=N] [sys-err=msg] [task-err] [retryable]:
			// one batch of results from the worker.
			lw := lease(t, d, first(d))
			if len(d.Args) < 2 {
				d.Fatalf(t, "results LEASE TASKS")
			}
			ids := strings.Split(d.Args[1].Key, ",")
			us, err := strconv.ParseFloat(d.Val("us", "5000"), 64)
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			_, terr := d.Arg("task-err")
			_, rtr := d.Arg("retryable")
			for _, id := range ids {
				acts = b.result(acts, lw, id, taskOutcome{execUs: us, sysErr: d.Val("sys-err", ""), taskErr: terr, retryable: rtr})
			}
			acts = b.resultsDone(acts, lw)
		case "broken":
			// broken L1 [oom=msg]: the task stream to the worker broke.
			acts = b.streamBroken(acts, lease(t, d, first(d)), errors.New("stream closed"), d.Val("oom", ""))
		case "lost":
			acts = b.leaseLost(acts, lease(t, d, first(d)))
		case "node-dead":
			dead := map[string]bool{}
			ids, _ := d.Arg("nodes")
			for _, id := range ids {
				dead[id] = true
			}
			acts = b.nodeDead(acts, dead)
		case "tick":
			dur, err := time.ParseDuration(d.Val("by", "1ms"))
			if err != nil {
				d.Fatalf(t, "%v", err)
			}
			now = now.Add(dur)
			return "now=" + now.Sub(time.Unix(0, 0)).String()
		case "idle-fire":
			// The lease's idle timer fired.
			acts = b.idleTick(acts, lease(t, d, first(d)))
		case "give-back":
			acts = b.giveBack(acts, lease(t, d, first(d)))
		case "cancel":
			acts = b.cancelTask(acts, task(t, d, first(d)))
		case "relaunch":
			acts = b.relaunchRequests(acts)
		case "close":
			acts = b.close(acts)
		case "fail-all":
			acts = b.failAll(acts, &UnschedulableError{Message: d.Val("msg", "no-node")})
		case "state":
			return b.state()
		default:
			d.Fatalf(t, "unknown command")
		}
		if len(acts) == 0 {
			return "no action"
		}
		var s strings.Builder
		for _, a := range acts {
			fmt.Fprintln(&s, a)
		}
		return strings.TrimSpace(s.String())
	})
}

// BenchmarkLeaseBookCycle is the submit path's cost in the book: a task
// submitted to a fast queue's leased worker, its result, the batch's end.
// The book allocates nothing for it (the Worker's buffer is reused).
func BenchmarkLeaseBookCycle(b *testing.B) {
	now := time.Unix(0, 0)
	bk := &leaseBook{idle: 20 * time.Millisecond, fast: true, now: func() time.Time { return now }, retry: func(*pendingTask) bool { return true }}
	lw := &leasedWorker{lease: &rpcpb.LeaseReply{LeaseId: "L1"}, inflight: map[string]*pendingTask{}}
	buf := bk.granted(nil, lw)
	pt := &pendingTask{spec: &rpcpb.TaskSpec{TaskId: "t1"}}
	b.ReportAllocs()
	for b.Loop() {
		buf = bk.submit(buf[:0], pt)
		buf = bk.result(buf[:0], lw, "t1", taskOutcome{execUs: 10})
		buf = bk.resultsDone(buf[:0], lw)
	}
}
