package bench

import (
	"context"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/gcs"
	"github.com/goray-dev/goray/runtime/internal/ids"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/scheduler"
)

// Simulated nodes (issue 20, part 3): one GCS in this process and N node
// managers with fake resources in another process (FakeNodes), each
// registering and then sending the heartbeat a node sends — its available
// resources, which change as if tasks ran, and its queued demand — every
// HeartbeatInterval, and getting the cluster view back. The GCS's CPU is
// this process's CPU time over a window (nothing else runs in it), as a
// fraction of one core. Then 10,000 queued one-CPU tasks are placed on the
// GCS's view of the N nodes by the scheduler every node manager runs.

// FakeNodesCommand is the hidden `goray` subcommand that runs FakeNodes.
const FakeNodesCommand = "__bench-fake-nodes"

// fakeHeartbeat is the heartbeat interval of the simulated nodes: a
// node's default (node.Config.HeartbeatInterval).
const fakeHeartbeat = time.Second

// SimulatedNodes measures the GCS with each count of simulated nodes over
// window, and prints one line per count.
func SimulatedNodes(ctx context.Context, out io.Writer, counts []int, window time.Duration) error {
	for _, n := range counts {
		if err := simulatedNodes(ctx, out, n, window); err != nil {
			return fmt.Errorf("%d nodes: %w", n, err)
		}
	}
	return nil
}

func simulatedNodes(ctx context.Context, out io.Writer, n int, window time.Duration) error {
	dir, err := os.MkdirTemp("", "goray-bench-gcs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	g, err := gcs.Open(ctx, gcs.Config{HeartbeatTimeout: 10 * time.Second, Dir: dir, Logger: log.New(io.Discard, "", 0)})
	if err != nil {
		return err
	}
	defer g.Stop()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := grpc.NewServer(rpcutil.ServerOptions(auth.Config{})...)
	rpcpb.RegisterGcsServer(srv, g)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	go g.Run()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, FakeNodesCommand, lis.Addr().String(), strconv.Itoa(n))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	conn, err := rpcutil.NewPool(auth.Config{}).Get(lis.Addr().String())
	if err != nil {
		return err
	}
	client := rpcpb.NewGcsClient(conn)
	// Wait until all are registered, then two heartbeat rounds.
	var view *rpcpb.ClusterView
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if view, err = client.GetNodes(ctx, &rpcpb.GetNodesRequest{}); err == nil && len(view.Nodes) == n {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d simulated nodes registered", len(view.GetNodes()), n)
		}
	}
	time.Sleep(2 * fakeHeartbeat)
	c0, t0 := selfCPU(), time.Now()
	time.Sleep(window)
	cores := (selfCPU() - c0) / time.Since(t0).Seconds()
	if view, err = client.GetNodes(ctx, &rpcpb.GetNodesRequest{}); err != nil {
		return err
	}
	alive := 0
	for _, v := range view.Nodes {
		if v.Alive {
			alive++
		}
	}
	// The nodes stop first: the placements are timed on a quiet machine.
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	placed, per, err := placeTasks(view, 10_000)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%-36s %14.3f cores  (GCS with %d simulated nodes, %d alive, heartbeats every %s: %.0f heartbeats/s, each answered with the %d-node view; %d of 10,000 queued 1-CPU tasks placed on the view (the rest wait for room), %.1f µs a decision)\n",
		fmt.Sprintf("gcs_cpu_%d_nodes", n), cores, n, alive, fakeHeartbeat, float64(n)/fakeHeartbeat.Seconds(), len(view.Nodes), placed, per)
	return nil
}

// placeTasks places tasks one-CPU tasks on the view's nodes as a node
// manager's scheduler does (the default hybrid policy from one node),
// taking each placement's CPU from the node's availability.
func placeTasks(view *rpcpb.ClusterView, tasks int) (placed int, perTaskUs float64, err error) {
	nodes := make([]scheduler.Node, 0, len(view.Nodes))
	for _, v := range view.Nodes {
		nodes = append(nodes, scheduler.Node{ID: v.NodeId, Alive: v.Alive, Total: v.Total, Available: scheduler.Resources(v.Available).Clone(), Labels: v.Labels})
	}
	if len(nodes) == 0 {
		return 0, 0, fmt.Errorf("an empty view")
	}
	index := map[string]int{}
	for i, n := range nodes {
		index[n.ID] = i
	}
	var st scheduler.State
	req := scheduler.Resources{"CPU": 1}
	t0 := time.Now()
	for range tasks {
		d := st.Pick(nodes, nodes[0].ID, req, scheduler.Strategy{})
		if d.Status != scheduler.Placed {
			continue
		}
		req.SubFrom(nodes[index[d.NodeID]].Available)
		placed++
	}
	return placed, float64(time.Since(t0).Microseconds()) / float64(tasks), nil
}

// selfCPU is this process's user and system CPU time in seconds.
func selfCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// FakeNodes runs n simulated node managers against the GCS at addr until
// ctx ends: each registers with 64 CPUs, and every heartbeat reports an
// availability that moves as if tasks started and ended (up to 16 CPUs
// busy), with queued demand.
func FakeNodes(ctx context.Context, addr string, n int) error {
	conn, err := rpcutil.NewPool(auth.Config{}).Get(addr)
	if err != nil {
		return err
	}
	client := rpcpb.NewGcsClient(conn)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- fakeNode(ctx, client, i)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

func fakeNode(ctx context.Context, client rpcpb.GcsClient, i int) error {
	id := ids.New()
	total := map[string]float64{"CPU": 64, "memory": 256e9, "object_store_memory": 64e9}
	info := &rpcpb.NodeInfo{NodeId: id, Address: fmt.Sprintf("127.0.0.1:%d", 20000+i), Ip: "127.0.0.1", Total: total,
		Labels: map[string]string{"ray.io/node-id": id, "zone": fmt.Sprintf("z%d", i%4)}, NodeTypeName: "sim", ObjectStoreCapacity: 64e9}
	if _, err := client.RegisterNode(ctx, info); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	known := int64(0) // as a node: the registration fields it has (see node.viewCache)
	// Spread the heartbeats over the interval, as real nodes' are.
	t := time.NewTimer(time.Duration(rng.Int64N(int64(fakeHeartbeat))))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		t.Reset(fakeHeartbeat)
		busy := float64(rng.IntN(16)) // a quarter busy at most: 10,000 tasks fit 250 nodes
		rep := &rpcpb.NodeReport{NodeId: id, Available: map[string]float64{"CPU": 64 - busy, "memory": 256e9, "object_store_memory": 64e9 - busy*1e8},
			Demand: []*rpcpb.ResourceDemand{{Shape: map[string]float64{"CPU": 1}, Count: 40}}, ObjectStoreUsed: int64(busy * 1e8),
			KnownInfoVersion: known}
		v, err := client.ReportNode(ctx, rep)
		if err != nil {
			if ctx.Err() == nil {
				return err
			}
			return nil
		}
		known = v.InfoVersion
	}
}
