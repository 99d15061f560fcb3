package node

import (
	"os"
	"path/filepath"
	"testing"
)

// fakeRoot writes files under a temporary root.
func fakeRoot(t *testing.T, files map[string]string) procRoot {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return procRoot(root)
}

const meminfo = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n"

func TestMemoryUsageSources(t *testing.T) {
	for _, tc := range []struct {
		name       string
		files      map[string]string
		used, tot  uint64
		fromCgroup bool
	}{
		{"the machine, no cgroup file", map[string]string{"proc/meminfo": meminfo}, 12000000 * 1024, 16000000 * 1024, false},
		{"cgroup v2 with a limit", map[string]string{
			"proc/meminfo":                               meminfo,
			"proc/self/cgroup":                           "0::/kubepods/pod1\n",
			"proc/self/mountinfo":                        "30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/kubepods/pod1/memory.max":     "2000000000\n",
			"sys/fs/cgroup/kubepods/pod1/memory.current": "1500000000\n",
			"sys/fs/cgroup/kubepods/pod1/memory.stat":    "anon 1000\ninactive_file 300000000\nactive_file 5\n",
		}, 1200000000, 2000000000, true},
		{"cgroup v2 without a limit: the machine", map[string]string{
			"proc/meminfo":                 meminfo,
			"proc/self/cgroup":             "0::/\n",
			"proc/self/mountinfo":          "30 25 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n",
			"sys/fs/cgroup/memory.max":     "max\n",
			"sys/fs/cgroup/memory.current": "1500000000\n",
		}, 12000000 * 1024, 16000000 * 1024, false},
		{"cgroup v1 in a namespace (path not under the mount)", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/cgroup":    "12:cpu,cpuacct:/x\n7:memory:/docker/abc\n0::/\n",
			"proc/self/mountinfo": "40 30 0:35 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n41 30 0:36 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu,cpuacct\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "1073741824\n",
			"sys/fs/cgroup/memory/memory.usage_in_bytes": "900000000\n",
			"sys/fs/cgroup/memory/memory.stat":           "cache 5\ntotal_inactive_file 100000000\n",
		}, 800000000, 1073741824, true},
		{"cgroup v1 unlimited: the machine", map[string]string{
			"proc/meminfo":        meminfo,
			"proc/self/cgroup":    "7:memory:/\n",
			"proc/self/mountinfo": "40 30 0:35 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n",
			"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			"sys/fs/cgroup/memory/memory.usage_in_bytes": "900000000\n",
		}, 12000000 * 1024, 16000000 * 1024, false},
	} {
		u, err := fakeRoot(t, tc.files).memoryUsage()
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if u.used != tc.used || u.total != tc.tot || (u.source == "of the node's cgroup") != tc.fromCgroup {
			t.Errorf("%s: %+v, want used %d of %d (cgroup %v)", tc.name, u, tc.used, tc.tot, tc.fromCgroup)
		}
	}
	if _, err := fakeRoot(t, map[string]string{"proc/meminfo": "garbage\n"}).memoryUsage(); err == nil {
		t.Error("a meminfo without MemTotal gave a reading")
	}
}

// This machine's own reading is sane (the monitor runs on it in every test).
func TestReadMemoryUsageHere(t *testing.T) {
	u, err := readMemoryUsage()
	if err != nil {
		t.Fatal(err)
	}
	if u.total == 0 || u.used > u.total {
		t.Fatalf("reading %+v", u)
	}
	t.Logf("memory here: %s", u)
}
