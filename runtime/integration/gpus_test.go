package integration

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// gpuView is what a task or actor sees of its GPUs.
type gpuView struct {
	Visible string   // CUDA_VISIBLE_DEVICES
	Set     bool     // whether it is set at all
	IDs     []string // ray.GetGPUIDs
}

func viewGPUs() gpuView {
	v, ok := os.LookupEnv("CUDA_VISIBLE_DEVICES")
	return gpuView{Visible: v, Set: ok, IDs: ray.GetGPUIDs()}
}

// gpuTask waits until `together` tasks of dir have started (so they hold
// their leases at once, bounded by 20 s), then reports its GPUs.
var gpuTask = ray.Task2("it.gpu_task", func(ctx context.Context, dir string, together int) (gpuView, error) {
	f, err := os.CreateTemp(dir, "started-")
	if err != nil {
		return gpuView{}, err
	}
	_ = f.Close()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ents, _ := os.ReadDir(dir); len(ents) >= together {
			return viewGPUs(), nil
		}
	}
	return gpuView{}, fmt.Errorf("only some of the %d tasks started together", together)
})

type gpuHolder struct{}

var gpuHolderClass = ray.Actor("it.GPUHolder", func(ctx context.Context) (*gpuHolder, error) { return &gpuHolder{}, nil })

var gpuHolderView = ray.Method0(gpuHolderClass, "view", func(a *gpuHolder, ctx context.Context) (gpuView, error) {
	return viewGPUs(), nil
})

// GPU isolation (Ray's CUDA_VISIBLE_DEVICES for tasks and actors holding
// GPUs) on a node with 2 GPUs: two 1-GPU tasks running at once see one
// device each, and different ones; two half-GPU tasks share one device; a
// task without GPUs sees none; an actor holding one sees its own, in
// CUDA_VISIBLE_DEVICES and ray.GetGPUIDs alike.
func TestGPUIsolation(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	node := startOwnNode(t, "127.0.0.14", "--num-cpus=4", "--num-gpus=2", "--object-store-memory=40000000")
	on := ray.NodeAffinity(node.id, false)
	// The scheduler on the head learns of a new node with the next
	// resource broadcast: until then a task pinned to it cannot be placed.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := ray.Get(ctx, readEnv.Remote(ctx, 0, on, ray.NumGPUs(2))) // a shape of its own: its queue's pace is not the tests'
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a task pinned to the new node: %v", err)
		}
	}
	run := func(n int, gpus float64) []gpuView {
		t.Helper()
		dir := t.TempDir()
		refs := make([]ray.Ref[gpuView], n)
		for i := range refs {
			refs[i] = gpuTask.Remote(ctx, dir, n, on, ray.NumGPUs(gpus))
		}
		out, err := ray.GetAll(ctx, refs...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	whole := run(2, 1)
	for _, v := range whole {
		if !v.Set || len(v.IDs) != 1 || v.Visible != v.IDs[0] || (v.Visible != "0" && v.Visible != "1") {
			t.Fatalf("1-GPU task saw %+v", v)
		}
	}
	if whole[0].Visible == whole[1].Visible {
		t.Fatalf("two 1-GPU tasks at once shared device %s", whole[0].Visible)
	}
	halves := run(2, 0.5)
	if halves[0].Visible != halves[1].Visible || len(halves[0].IDs) != 1 {
		t.Fatalf("two half-GPU tasks: %+v and %+v, want one device shared", halves[0], halves[1])
	}
	none := run(1, 0)[0]
	if !none.Set || none.Visible != "" || len(none.IDs) != 0 {
		t.Fatalf("a task without GPUs on a GPU node saw %+v, want none visible", none)
	}
	a, err := gpuHolderClass.Remote(ctx, on, ray.NumGPUs(1))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, a, true) }()
	av, err := ray.Get(ctx, gpuHolderView.Remote(ctx, a))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(av.IDs, []string{av.Visible}) || !slices.Contains([]string{"0", "1"}, av.Visible) {
		t.Fatalf("1-GPU actor saw %+v", av)
	}
	// Its device is held while it lives: a 1-GPU task gets the other one.
	other := run(1, 1)[0]
	if other.Visible == av.Visible || strings.Contains(other.Visible, ",") {
		t.Fatalf("a 1-GPU task next to a 1-GPU actor on %s saw %+v", av.Visible, other)
	}
}
