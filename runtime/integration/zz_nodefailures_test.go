package integration

// The destructive scenarios run last: they kill and freeze nodes, and the
// suite's other tests (in files sorted before this one: Go runs a
// package's tests file by file) need the whole cluster.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// TestZNodeFailures runs last (but for the hung node): it kills both worker nodes.
func TestZNodeFailures(t *testing.T) {
	ctx := context.Background()
	n2, n3 := nodeIDs["127.0.0.2"], nodeIDs["127.0.0.3"]
	// An object stored on node 2, to be rebuilt from lineage after node 2 dies.
	lost := blob.Remote(ctx, 1<<20, 7, ray.NodeAffinity(n2, true))
	if _, err := ray.Get(ctx, lost); err != nil {
		t.Fatal(err)
	}
	// An actor on node 3 that may restart once, and a slow task there.
	h, err := stateful.Remote(ctx, ray.MaxRestarts(1), ray.NodeAffinity(n3, true))
	if err != nil {
		t.Fatal(err)
	}
	if where, err := ray.Get(ctx, actorWhere.Remote(ctx, h)); err != nil || where != n3 {
		t.Fatalf("actor on %q (%v), want node 3", where, err)
	}
	slow := whereAmI.Remote(ctx, 1500, ray.NodeAffinity(n3, true))
	time.Sleep(500 * time.Millisecond)
	procs["127.0.0.3"].Process.Kill()
	_ = procs["127.0.0.3"].Wait()

	where, err := ray.Get(ctx, slow)
	if err != nil || where == n3 {
		t.Fatalf("slow task after node death: ran on %q, %v", where, err)
	}
	where, err = ray.Get(ctx, actorWhere.Remote(ctx, h))
	if err != nil || where == n3 {
		t.Fatalf("restarted actor: on %q, %v", where, err)
	}
	// Out of restarts: the next death is final.
	if err := ray.Kill(ctx, h, false); err != nil {
		t.Fatal(err)
	}
	_, err = ray.Get(ctx, actorWhere.Remote(ctx, h))
	var died *ray.ActorDiedError
	if !errors.As(err, &died) {
		t.Fatalf("want ActorDiedError after restarts ran out, got %v", err)
	}

	procs["127.0.0.2"].Process.Kill()
	_ = procs["127.0.0.2"].Wait()
	b, err := ray.Get(ctx, lost)
	if err != nil || len(b) != 1<<20 || b[0] != 7 {
		t.Fatalf("lost object not rebuilt: len %d, %v", len(b), err)
	}
}

// childPIDs lists the processes whose parent is pid (a node's workers).
func childPIDs(pid int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces; parse after ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		var state byte
		var ppid int
		if _, err := fmt.Sscanf(string(b[i+1:]), " %c %d", &state, &ppid); err == nil && ppid == pid {
			out = append(out, p)
		}
	}
	return out
}

// A node whose host vanishes (a deleted pod: no TCP reset, the connections
// just hang) is declared dead by the GCS; the owner must then retry the
// tasks it had in flight there instead of waiting on the stream forever.
// Frozen with SIGSTOP (node manager and its workers), node 4 is exactly that.
// Runs after TestZNodeFailures: the head is the only other node left.
func TestZZHungNodeTasksFailOver(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs /proc")
	}
	ctx := context.Background()
	const ip = "127.0.0.4"
	delete(nodeIDs, ip) // a node of an earlier -count run is dead
	startNode(ip, "--address="+gcsAddress, "--num-cpus=1")
	node := procs[ip]
	defer func() {
		for _, c := range childPIDs(node.Process.Pid) {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
		_ = node.Process.Kill()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for nodeIDs[ip] == "" {
		if time.Now().After(deadline) {
			t.Fatal("node 4 did not come up")
		}
		nodes, _ := ray.Nodes(ctx)
		for _, n := range nodes {
			if n.Alive && n.Ip == ip {
				nodeIDs[ip], addrs[ip] = n.NodeId, n.Address
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	n4 := nodeIDs[ip]
	// Warm node 4 up (worker started, binary fetched), then hold its CPU.
	// The soft affinity runs elsewhere until the other nodes' resource
	// views include node 4 (one report period): retry until it lands there.
	for {
		where, err := ray.Get(ctx, whereAmI.Remote(ctx, 0, ray.NodeAffinity(n4, true)))
		if err == nil && where == n4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("warm-up on %q (%v), want node 4", where, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	slow := whereAmI.Remote(ctx, 2000, ray.NodeAffinity(n4, true))
	nc := nodeClient(t, ip)
	for {
		st, err := nc.GetNodeStats(ctx, &rpcpb.Empty{})
		if err == nil && st.Available["CPU"] == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow task was not leased on node 4")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // pushed to the worker
	_ = node.Process.Signal(syscall.SIGSTOP)
	for _, c := range childPIDs(node.Process.Pid) {
		_ = syscall.Kill(c, syscall.SIGSTOP)
	}
	gctx, cancel := context.WithTimeout(ctx, 8*time.Second) // well under gRPC keepalive (10s+5s)
	defer cancel()
	where, err := ray.Get(gctx, slow)
	if err != nil || where == n4 {
		t.Fatalf("task in flight on a hung, dead node: ran on %q, %v (want a retry on another node)", where, err)
	}
}
