package integration

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

// hogArgs: allocate MiB (a file in Dir says it began, another that it
// has the memory), hold it until Dir has
// a file named "release" (at most 60 s).
type hogArgs struct {
	Name string
	Dir  string
	MiB  int
}

var memoryHog = ray.Task("it.memory_hog", func(ctx context.Context, a hogArgs) (int, error) {
	if err := os.WriteFile(filepath.Join(a.Dir, "began-"+a.Name+"-"+strconv.Itoa(os.Getpid())), nil, 0o644); err != nil {
		return 0, err
	}
	b := make([]byte, a.MiB<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // touch every page: resident, not just reserved
	}
	if err := os.WriteFile(filepath.Join(a.Dir, "started-"+a.Name+"-"+strconv.Itoa(os.Getpid())), nil, 0o644); err != nil {
		return 0, err
	}
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(a.Dir, "release")); err == nil {
			return int(b[len(b)-4096]) + len(b)>>20 - 1, nil
		}
	}
	return 0, fmt.Errorf("%s was never released", a.Name)
})

// memoryCgroup makes a v1 memory cgroup of limit bytes under this
// process's own and returns its directory (removed at cleanup, after the
// test's own cleanups killed what was in it).
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	var own string
	for _, line := range strings.Split(string(b), "\n") {
		if parts := strings.SplitN(line, ":", 3); len(parts) == 3 && hasWord(parts[1], "memory") {
			own = parts[2]
		}
	}
	base := "/sys/fs/cgroup/memory"
	if own == "" {
		t.Skip("no v1 memory cgroup controller on this machine")
	}
	dir := filepath.Join(base, own, fmt.Sprintf("goray-oom-%d", os.Getpid()))
	if _, err := os.Stat(filepath.Join(base, own)); err != nil {
		dir = filepath.Join(base, fmt.Sprintf("goray-oom-%d", os.Getpid())) // a cgroup namespace: its root is ours
	}
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		t.Skipf("cannot make a memory cgroup (needs root): %v", err)
	}
	t.Cleanup(func() {
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			if err := os.Remove(dir); err == nil || os.IsNotExist(err) || time.Now().After(deadline) {
				return
			}
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("set the cgroup's limit: %v", err)
	}
	return dir
}

func hasWord(list, w string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == w {
			return true
		}
	}
	return false
}

// The memory monitor (Ray's OOM killer) on a node whose cgroup allows
// 1 GiB, with RAY_memory_usage_threshold=0.5: tasks A (retriable, 100 MiB)
// and B (no retries, 100 MiB) run, then C (one retry, 400 MiB) starts and
// takes the node over half its limit. The monitor kills C's worker — the
// newest retriable task — twice (its retry too), and C fails with
// OutOfMemoryError naming the node's memory and the threshold; A and B are
// never killed and finish; the node lists C's workers as
// NODE_OUT_OF_MEMORY exits.
func TestMemoryMonitorKillsTheNewestRetriableTask(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cg := memoryCgroup(t, 1<<30)
	ip := "127.0.0.15"
	nodeEnv[ip] = []string{"RAY_memory_usage_threshold=0.5", "RAY_memory_monitor_refresh_ms=100"}
	defer delete(nodeEnv, ip)
	node := startOwnNode(t, ip, "--num-cpus=4", "--object-store-memory=40000000")
	// The node and the workers it starts from now on are in the cgroup.
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(node.cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("move the node into the cgroup: %v", err)
	}
	on := ray.NodeAffinity(node.id, false)
	// A fresh pool (its own env_vars), so that every worker starts in the cgroup.
	env := ray.EnvVars(map[string]string{"IT_OOM_POOL": "1"})
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		_, err := ray.Get(ctx, readEnv.Remote(ctx, 0, on, env, ray.NumCPUs(0.5)))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a task pinned to the new node: %v", err)
		}
	}
	dir := t.TempDir()
	started := func(name string, n int) {
		t.Helper()
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			m, _ := filepath.Glob(filepath.Join(dir, "started-"+name+"-*"))
			if len(m) >= n {
				return
			}
		}
		t.Fatalf("%s did not start %d times", name, n)
	}
	a := memoryHog.Remote(ctx, hogArgs{"a", dir, 100}, on, env, ray.MaxRetries(3))
	started("a", 1)
	b := memoryHog.Remote(ctx, hogArgs{"b", dir, 100}, on, env, ray.MaxRetries(0))
	started("b", 1)
	c := memoryHog.Remote(ctx, hogArgs{"c", dir, 400}, on, env, ray.MaxRetries(1))
	_, err := ray.Get(ctx, c)
	t.Logf("C: %v", err)
	var oom *ray.OutOfMemoryError
	if !errors.As(err, &oom) {
		t.Fatalf("C: %v (%T), want OutOfMemoryError", err, err)
	}
	for _, want := range []string{"memory usage threshold of 0.50", "of the node's cgroup", "most recently scheduled task or actor whose work can be retried"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("C's error %q does not say %q", err, want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "began-c-*")); len(m) != 2 {
		t.Errorf("C ran %d times, want 2 (its one retry)", len(m))
	}
	if err := os.WriteFile(filepath.Join(dir, "release"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]ray.Ref[int]{"a": a, "b": b} {
		if v, err := ray.Get(ctx, r); err != nil || v != 100 {
			t.Errorf("%s: %d, %v: it should never have been killed", name, v, err)
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "started-"+name+"-*")); len(m) != 1 {
			t.Errorf("%s ran %d times, want once", name, len(m))
		}
	}
	stats, err := nodeClientAt(t, node.addr).GetNodeStats(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	oomExits := 0
	for _, w := range stats.Workers {
		if w.ExitType == "NODE_OUT_OF_MEMORY" {
			oomExits++
		}
	}
	if oomExits != 2 {
		t.Errorf("the node lists %d NODE_OUT_OF_MEMORY exits, want 2", oomExits)
	}
}
