package node

import (
	"context"
	"testing"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// blockedNode is a node of 2 CPUs and 1 GPU with a task lease of 2 CPUs
// and 1 GPU (worker "task"), an actor lease of 0 CPUs in a bundle
// ("actor") and a bundle task lease of 1 CPU ("pgtask").
func blockedNode() *Node {
	n := &Node{available: scheduler.Resources{"CPU": 0, "GPU": 0}, leases: map[string]*lease{},
		bundles: map[string]map[int32]*bundle{"pg": {0: {total: scheduler.Resources{"CPU": 1}, avail: scheduler.Resources{"CPU": 0}}}},
		changed: make(chan struct{})}
	n.leases["l1"] = &lease{id: "l1", w: &worker{id: "task"}, res: scheduler.Resources{"CPU": 2, "GPU": 1}}
	n.leases["l2"] = &lease{id: "l2", w: &worker{id: "actor", actorID: "a"}, res: scheduler.Resources{"CPU": 1}}
	n.leases["l3"] = &lease{id: "l3", w: &worker{id: "pgtask"}, res: scheduler.Resources{"CPU": 1}, pgID: "pg", bundle: 0}
	return n
}

func notify(t *testing.T, n *Node, id string, blocked bool) {
	t.Helper()
	if _, err := n.NotifyWorkerBlocked(context.Background(), &rpcpb.WorkerBlockedRequest{WorkerId: id, Blocked: blocked}); err != nil {
		t.Fatal(err)
	}
}

func TestABlockedTaskLendsItsCPUs(t *testing.T) {
	n := blockedNode()
	woken := n.changed
	notify(t, n, "task", true)
	if n.available["CPU"] != 2 || n.available["GPU"] != 0 {
		t.Fatalf("blocked: available %v, want the 2 CPUs lent and the GPU kept", n.available)
	}
	select {
	case <-woken:
	default:
		t.Fatal("waiting lease requests were not woken")
	}
	notify(t, n, "task", true) // said twice: lent once
	if n.available["CPU"] != 2 {
		t.Fatalf("blocked twice: available %v", n.available)
	}
	// Another lease takes the lent CPUs; the task goes on: the node is
	// over its CPUs until a lease ends.
	scheduler.Resources{"CPU": 2}.SubFrom(n.available)
	notify(t, n, "task", false)
	if n.available["CPU"] != -2 {
		t.Fatalf("unblocked: available %v, want -2 (over by the lent CPUs)", n.available)
	}
	notify(t, n, "task", false) // said twice: taken back once
	if n.available["CPU"] != -2 {
		t.Fatalf("unblocked twice: available %v", n.available)
	}
}

func TestALeaseEndingWhileBlockedGivesBackWhatItHolds(t *testing.T) {
	n := blockedNode()
	notify(t, n, "task", true)
	n.freeLocked(n.leases["l1"])
	if n.available["CPU"] != 2 || n.available["GPU"] != 1 {
		t.Fatalf("after the blocked lease ended: available %v, want CPU 2 GPU 1 (nothing counted twice)", n.available)
	}
	notify(t, n, "task", false) // a late unblock of an ended lease changes nothing
	if n.available["CPU"] != 2 {
		t.Fatalf("a late unblock moved available to %v", n.available)
	}
}

func TestActorsKeepTheirCPUsAndBundlesLendToTheirBundle(t *testing.T) {
	n := blockedNode()
	notify(t, n, "actor", true)
	if n.available["CPU"] != 0 || n.leases["l2"].lent != nil {
		t.Fatalf("an actor's CPUs were lent: available %v", n.available)
	}
	notify(t, n, "pgtask", true)
	if got := n.bundles["pg"][0].avail["CPU"]; got != 1 || n.available["CPU"] != 0 {
		t.Fatalf("a bundle lease lent to bundle %v, node %v; want the bundle's CPU back in the bundle", got, n.available)
	}
	notify(t, n, "pgtask", false)
	if got := n.bundles["pg"][0].avail["CPU"]; got != 0 {
		t.Fatalf("bundle after unblock: %v", got)
	}
	notify(t, n, "nobody", true) // an unknown worker: nothing
	if n.available["CPU"] != 0 {
		t.Fatalf("available %v", n.available)
	}
}
