package metrics

import (
	"os"
	"path/filepath"
	"testing"
)

func copyProc(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{"stat", "meminfo", "net/dev", "diskstats"} {
		b, err := os.ReadFile(filepath.Join("testdata/proc", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestHostCollector(t *testing.T) {
	proc := copyProc(t)
	c := NewHostCollector(HostConfig{IP: "10.0.0.7", Head: true, DiskPath: t.TempDir(), Proc: proc})
	fams := gather(t, c)
	labels := []string{"ip=10.0.0.7", "IsHeadNode=true"}
	for name, want := range map[string]float64{
		// user 100 + system 100 busy of 1000 jiffies (idle 700, iowait 100)
		"ray_node_cpu_utilization":  20,
		"ray_node_mem_total":        8000 << 10,
		"ray_node_mem_available":    6000 << 10,
		"ray_node_mem_used":         2000 << 10,
		"ray_node_mem_shared_bytes": 500 << 10,
		// eth0 + eth1, not lo
		"ray_node_network_received": 1024,
		"ray_node_network_sent":     2048,
	} {
		if got := value(t, fams, name, labels...); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if n := value(t, fams, "ray_node_cpu_count", labels...); n < 1 {
		t.Errorf("ray_node_cpu_count = %v", n)
	}
	if u, f := value(t, fams, "ray_node_disk_usage", labels...), value(t, fams, "ray_node_disk_free", labels...); u+f <= 0 {
		t.Errorf("disk usage %v + free %v", u, f)
	}
	// Speeds need a previous sample.
	for _, n := range []string{"ray_node_network_receive_speed", "ray_node_disk_io_read_speed"} {
		if fams[n] != nil {
			t.Errorf("%s on the first scrape", n)
		}
	}

	// Second scrape: rates over what changed since the first.
	write := func(f, s string) {
		if err := os.WriteFile(filepath.Join(proc, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  200 0 100 800 100 0 0 0 0 0\n")
	write("net/dev", "h\nh\n  eth0: 5000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n  eth1: 24 1 0 0 0 0 0 0 48 1 0 0 0 0 0 0\n")
	write("diskstats", "   8       0 sda 10 0 108 0 20 0 16 0 0 0 0 0 0 0 0 0 0\n")
	fams = gather(t, c)
	if got := value(t, fams, "ray_node_cpu_utilization", labels...); got != 50 {
		t.Errorf("second ray_node_cpu_utilization = %v, want 50 (100 busy of 200)", got)
	}
	if v := value(t, fams, "ray_node_network_receive_speed", labels...); v <= 0 {
		t.Errorf("receive speed %v after receiving bytes", v)
	}
	if v := value(t, fams, "ray_node_network_send_speed", labels...); v != 0 {
		t.Errorf("send speed %v, nothing was sent", v)
	}
	if v := value(t, fams, "ray_node_disk_io_read_speed", labels...); v <= 0 {
		t.Errorf("disk read speed %v after reading", v)
	}
}

func TestDiskBytesCountsWholeDisks(t *testing.T) {
	b, err := os.ReadFile("testdata/proc/diskstats")
	if err != nil {
		t.Fatal(err)
	}
	// sda (8 sectors read, 16 written) and nvme0n1 (2, 4): not loop0 nor the partitions.
	r, w := diskBytes(b)
	if r != 10*512 || w != 20*512 {
		t.Errorf("read %d written %d, want %d %d", r, w, 10*512, 20*512)
	}
}
