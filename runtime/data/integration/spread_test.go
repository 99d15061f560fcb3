package integration

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/data"
	"github.com/goray-dev/goray/runtime/ray"
)

// spreadRow is a row of the spread test: which node's task made it and
// which node's pool actor passed it on.
type spreadRow struct {
	ID        int64  `data:"id"`
	TaskNode  string `data:"task_node"`
	ActorNode string `data:"actor_node"`
}

// nodeOf is the node a task runs on.
var nodeOf = ray.Task("integration.nodeOf", func(ctx context.Context, _ int) (string, error) { return ray.NodeID(), nil })

var tagTaskNode = data.MapFn("integration.tagTaskNode", func(ctx context.Context, r spreadRow) (spreadRow, error) {
	// Long enough that the operator's tasks overlap (each holds its lease
	// 200 ms) even on a loaded machine: a leased worker that is free again
	// takes the next task of its kind, as in Ray, so tasks that never
	// overlap would all run on the first node whatever the strategy.
	time.Sleep(50 * time.Millisecond)
	r.TaskNode = ray.NodeID()
	return r, nil
})

type nodeTagger struct{ node string }

var tagActorNode = data.MapBatchesClass("integration.tagActorNode",
	func(ctx context.Context, _ int) (*nodeTagger, error) { return &nodeTagger{node: ray.NodeID()}, nil },
	func(s *nodeTagger, ctx context.Context, cols data.Columns) (data.Columns, error) {
		ids := cols["id"].([]int64)
		nodes := make([]string, len(ids))
		for i := range nodes {
			nodes[i] = s.node
		}
		cols["actor_node"] = nodes
		return cols, nil
	})

// Map tasks and a pool's actors spread over the nodes, as Ray Data's
// (DataContext.scheduling_strategy "SPREAD"): with two nodes of room
// enough for the whole pipeline, the tasks and the pool's two actors run on
// both, not packed onto the first.
func TestTasksAndActorsSpreadOverNodes(t *testing.T) {
	ctx := testCtx(t)
	nodes := startNodes(t, []string{"127.0.0.41", "127.0.0.42"}, "--num-cpus=4")
	// The nodes of the tests before, killed, are listed alive until the
	// GCS's health check gives up on them: SPREAD would count them among
	// the nodes to go round. Wait until only this test's two are left.
	deadline := time.Now().Add(30 * time.Second)
	for {
		alive, err := ray.Nodes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var others []string
		for _, n := range alive {
			if n.Alive && !n.IsHead && n.NodeId != nodes[0].id && n.NodeId != nodes[1].id {
				others = append(others, n.Ip)
			}
		}
		if len(others) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("nodes of earlier tests still alive: %v", others)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// And until the head's scheduler knows both (its view of a node comes
	// with the next resource broadcast): SPREAD goes round the nodes it
	// knows, and a task pinned to a node it does not know fails.
	for _, n := range nodes {
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			got, err := ray.Get(ctx, nodeOf.Remote(ctx, 0, ray.NodeAffinity(n.id, false)))
			if err == nil && got == n.id {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a task pinned to node %s: %q, %v", n.id, got, err)
			}
		}
	}
	o := data.DefaultExecutionOptions()
	o.MaxTasksPerOp, o.NoProgress = 4, true
	ds := data.Range(64, data.OverrideNumBlocks(16)).Map(tagTaskNode).
		MapBatches(tagActorNode, data.ActorPoolSize(2, 2), data.ConstructorArg(0)).WithExecutionOptions(o)
	rows, err := data.TakeAllAs[spreadRow](ctx, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 64 {
		t.Fatalf("%d rows, want 64", len(rows))
	}
	tasks, actors := map[string]int{}, map[string]int{}
	for _, r := range rows {
		tasks[r.TaskNode]++
		actors[r.ActorNode]++
	}
	want := []string{nodes[0].id, nodes[1].id}
	sort.Strings(want)
	for what, got := range map[string]map[string]int{"map tasks": tasks, "the pool's actors": actors} {
		var ids []string
		for id := range got {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		if len(ids) != 2 || ids[0] != want[0] || ids[1] != want[1] {
			t.Errorf("rows by the node of %s: %v; want both worker nodes %v", what, got, want)
		}
	}
}
