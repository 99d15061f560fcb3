package integration

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/collective"
	"github.com/goray-dev/goray/runtime/ray"
)

// collMember is an actor that is a member of a collective group.
type collMember struct{ g *collective.Group }

var collectiveMember = ray.Actor("it.CollectiveMember", func(ctx context.Context) (*collMember, error) { return &collMember{}, nil })

type joinArgs struct {
	Name        string
	Size, Rank  int
	TimeoutSecs int
	Ring        bool // over TCP even on one machine (as on separate ones)
}

var collectiveJoin = ray.Method(collectiveMember, "join", func(m *collMember, ctx context.Context, a joinArgs) (bool, error) {
	g, err := collective.Init(ctx, a.Name, a.Size, a.Rank, collective.Options{Timeout: time.Duration(a.TimeoutSecs) * time.Second,
		NoSharedMemory: a.Ring})
	m.g = g
	return err == nil, err
})

// collectiveOps runs every operation on n elements and checks the results
// against what the members' inputs make (member r's element i is r+i).
var collectiveOps = ray.Method(collectiveMember, "ops", func(m *collMember, ctx context.Context, n int) (string, error) {
	size, rank := m.g.Size(), m.g.Rank()
	in := func(r int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(r + i)
		}
		return xs
	}
	buf := in(rank)
	if err := collective.AllReduce(ctx, m.g, buf, collective.Sum); err != nil {
		return "", err
	}
	for i, x := range buf {
		if want := float64(size*i + size*(size-1)/2); x != want {
			return "", fmt.Errorf("AllReduce: element %d is %v, want %v", i, x, want)
		}
	}
	all, err := collective.AllGather(ctx, m.g, in(rank))
	if err != nil {
		return "", err
	}
	for r := range size {
		if all[r*n] != float64(r) {
			return "", fmt.Errorf("AllGather: member %d's part starts with %v", r, all[r*n])
		}
	}
	b := make([]float64, n)
	if rank == 1 {
		b = in(7)
	}
	if err := collective.Broadcast(ctx, m.g, b, 1); err != nil {
		return "", err
	}
	if b[n-1] != float64(7+n-1) {
		return "", fmt.Errorf("Broadcast: last element %v", b[n-1])
	}
	return fmt.Sprintf("ok %s shm=%v", ray.NodeID(), m.g.SharedMemory()), collective.Barrier(ctx, m.g)
})

var collectiveAllReduce = ray.Method(collectiveMember, "allreduce", func(m *collMember, ctx context.Context, n int) (bool, error) {
	return true, collective.AllReduce(ctx, m.g, make([]float32, n), collective.Sum)
})

// members makes size member actors placed on the given nodes in turn and
// forms their group.
func collectiveGroup(t *testing.T, name string, size int, nodes []string, ring bool) []ray.ActorHandle[collMember] {
	t.Helper()
	ctx := context.Background()
	hs := make([]ray.ActorHandle[collMember], size)
	for r := range size {
		h, err := collectiveMember.Remote(ctx, ray.NumCPUs(0), ray.NodeAffinity(nodeIDs[nodes[r%len(nodes)]], false))
		if err != nil {
			t.Fatal(err)
		}
		hs[r] = h
		t.Cleanup(func() { _ = ray.Kill(context.Background(), h, true) })
	}
	var joins []ray.Ref[bool]
	for r, h := range hs {
		joins = append(joins, collectiveJoin.Remote(ctx, h, joinArgs{Name: name, Size: size, Rank: r, TimeoutSecs: 60, Ring: ring}))
	}
	if _, err := ray.GetAll(ctx, joins...); err != nil {
		t.Fatalf("forming the group: %v", err)
	}
	return hs
}

// Members on one node (through shared memory) and on two nodes (over the
// ring's TCP connections, as on two machines: here the nodes share one)
// run every operation on a length that is not a power of two.
func TestCollectiveGroupsOfActors(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		size  int
		nodes []string
		ring  bool
	}{{"one-node", 3, []string{"127.0.0.2"}, false}, {"two-nodes", 4, []string{"127.0.0.2", "127.0.0.3"}, true}} {
		t.Run(c.name, func(t *testing.T) {
			hs := collectiveGroup(t, runName("it-"+c.name), c.size, c.nodes, c.ring)
			var refs []ray.Ref[string]
			for _, h := range hs {
				refs = append(refs, collectiveOps.Remote(ctx, h, 100_003))
			}
			got, err := ray.GetAll(ctx, refs...)
			if err != nil {
				t.Fatal(err)
			}
			nodes := map[string]bool{}
			for _, s := range got {
				var node string
				var shm bool
				if _, err := fmt.Sscanf(s, "ok %s shm=%t", &node, &shm); err != nil {
					t.Fatalf("member said %q: %v", s, err)
				}
				if shm == c.ring {
					t.Fatalf("member said %q: shared memory should be %v", s, !c.ring)
				}
				nodes[node] = true
			}
			if len(nodes) != len(c.nodes) {
				t.Fatalf("members ran on %d nodes, want %d", len(nodes), len(c.nodes))
			}
		})
	}
}

// A member killed while the others wait in an AllReduce: each of them
// fails with the lost member named, well within the group's timeout.
func TestCollectiveMemberKilled(t *testing.T) {
	for _, ring := range []bool{false, true} {
		t.Run(map[bool]string{false: "shm", true: "ring"}[ring], func(t *testing.T) { testCollectiveMemberKilled(t, ring) })
	}
}

func testCollectiveMemberKilled(t *testing.T, ring bool) {
	ctx := context.Background()
	hs := collectiveGroup(t, runName(fmt.Sprintf("it-killed-%v", ring)), 3, []string{"127.0.0.2", "127.0.0.3"}, ring)
	start := time.Now()
	a := collectiveAllReduce.Remote(ctx, hs[0], 1<<20)
	b := collectiveAllReduce.Remote(ctx, hs[2], 1<<20)
	time.Sleep(200 * time.Millisecond) // both wait for member 1
	if err := ray.Kill(ctx, hs[1], true); err != nil {
		t.Fatal(err)
	}
	for i, ref := range []ray.Ref[bool]{a, b} {
		_, err := ray.Get(ctx, ref)
		if err == nil || !strings.Contains(err.Error(), "a member of the group was lost") {
			t.Fatalf("member %d: %v", 2*i, err)
		}
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Fatalf("the members learned of the loss after %v (timeout 60 s)", took)
	}
}
