package metrics

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HostConfig says which machine facts a node reports and how it is labelled.
type HostConfig struct {
	// IP is the node's address (Ray's ip label).
	IP string
	// Head: the head node (Ray's IsHeadNode label).
	Head bool
	// DiskPath is a path on the filesystem whose usage is reported: the
	// node's session directory, where spilled objects and logs go.
	DiskPath string
	// Proc is the proc filesystem's root ("/proc" when empty; tests point
	// it at fixtures).
	Proc string
}

// hostCollector reports the machine's CPU, memory, disk and network as
// Ray's dashboard agent does (ray_node_*). Rates (CPU utilization, network
// and disk speeds) are over the time since the previous scrape, as the
// agent's are over the time since its previous sample; the first scrape's
// CPU utilization is the average since boot and it has no speeds yet.
type hostCollector struct {
	cfg HostConfig

	cpuUtil, cpuCount, memUsed, memTotal, memAvail, memShared *prometheus.Desc
	diskUsage, diskFree, diskReadSpeed, diskWriteSpeed        *prometheus.Desc
	netRecv, netSent, netRecvSpeed, netSendSpeed              *prometheus.Desc

	mu   sync.Mutex
	prev *hostSample
}

type hostSample struct {
	at                  time.Time
	cpuBusy, cpuTotal   uint64
	netRecv, netSent    uint64
	diskRead, diskWrite uint64
	haveNet, haveDisk   bool
}

// NewHostCollector reports the machine's ray_node_* metrics.
func NewHostCollector(cfg HostConfig) prometheus.Collector {
	if cfg.Proc == "" {
		cfg.Proc = "/proc"
	}
	labels := []string{}
	constant := prometheus.Labels{LabelIP: cfg.IP, LabelIsHeadNode: strconv.FormatBool(cfg.Head)}
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, labels, constant) }
	return &hostCollector{cfg: cfg,
		cpuUtil:        d("ray_node_cpu_utilization", "The CPU utilization of the node as a percentage (0..100)."),
		cpuCount:       d("ray_node_cpu_count", "The number of CPU cores of the node."),
		memUsed:        d("ray_node_mem_used", "The physical memory used on the node, in bytes."),
		memTotal:       d("ray_node_mem_total", "The physical memory of the node, in bytes."),
		memAvail:       d("ray_node_mem_available", "The physical memory available on the node, in bytes."),
		memShared:      d("ray_node_mem_shared_bytes", "The shared memory of the node, in bytes."),
		diskUsage:      d("ray_node_disk_usage", "The disk space used on the node's session filesystem, in bytes."),
		diskFree:       d("ray_node_disk_free", "The disk space available on the node's session filesystem, in bytes."),
		diskReadSpeed:  d("ray_node_disk_io_read_speed", "The node's disk read throughput, in bytes per second."),
		diskWriteSpeed: d("ray_node_disk_io_write_speed", "The node's disk write throughput, in bytes per second."),
		netRecv:        d("ray_node_network_received", "The network traffic received by the node, in bytes."),
		netSent:        d("ray_node_network_sent", "The network traffic sent by the node, in bytes."),
		netRecvSpeed:   d("ray_node_network_receive_speed", "The node's network receive throughput, in bytes per second."),
		netSendSpeed:   d("ray_node_network_send_speed", "The node's network send throughput, in bytes per second."),
	}
}

func (c *hostCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.cpuUtil, c.cpuCount, c.memUsed, c.memTotal, c.memAvail, c.memShared, c.diskUsage, c.diskFree,
		c.diskReadSpeed, c.diskWriteSpeed, c.netRecv, c.netSent, c.netRecvSpeed, c.netSendSpeed} {
		ch <- d
	}
}

func (c *hostCollector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	now := sample(c.cfg.Proc)
	c.mu.Lock()
	prev := c.prev
	c.prev = &now
	c.mu.Unlock()

	gauge(c.cpuCount, float64(runtime.NumCPU()))
	if now.cpuTotal > 0 {
		busy, total := now.cpuBusy, now.cpuTotal
		if prev != nil && now.cpuTotal > prev.cpuTotal {
			busy, total = now.cpuBusy-prev.cpuBusy, now.cpuTotal-prev.cpuTotal
		}
		gauge(c.cpuUtil, 100*float64(busy)/float64(total))
	}
	if m, ok := meminfo(c.cfg.Proc); ok {
		gauge(c.memTotal, float64(m.total))
		gauge(c.memAvail, float64(m.available))
		gauge(c.memUsed, float64(m.total-m.available))
		gauge(c.memShared, float64(m.shared))
	}
	if c.cfg.DiskPath != "" {
		var st syscall.Statfs_t
		if syscall.Statfs(c.cfg.DiskPath, &st) == nil {
			bs := uint64(st.Bsize)
			gauge(c.diskUsage, float64((st.Blocks-st.Bfree)*bs))
			gauge(c.diskFree, float64(st.Bavail*bs))
		}
	}
	if now.haveNet {
		gauge(c.netRecv, float64(now.netRecv))
		gauge(c.netSent, float64(now.netSent))
	}
	if prev == nil {
		return
	}
	secs := now.at.Sub(prev.at).Seconds()
	if secs <= 0 {
		return
	}
	speed := func(d *prometheus.Desc, cur, old uint64) {
		if cur >= old {
			gauge(d, float64(cur-old)/secs)
		}
	}
	if now.haveNet && prev.haveNet {
		speed(c.netRecvSpeed, now.netRecv, prev.netRecv)
		speed(c.netSendSpeed, now.netSent, prev.netSent)
	}
	if now.haveDisk && prev.haveDisk {
		speed(c.diskReadSpeed, now.diskRead, prev.diskRead)
		speed(c.diskWriteSpeed, now.diskWrite, prev.diskWrite)
	}
}

// sample reads the counters rates are made of.
func sample(proc string) hostSample {
	s := hostSample{at: time.Now()}
	if b, err := os.ReadFile(proc + "/stat"); err == nil {
		s.cpuBusy, s.cpuTotal = cpuTimes(b)
	}
	if b, err := os.ReadFile(proc + "/net/dev"); err == nil {
		s.netRecv, s.netSent = netBytes(b)
		s.haveNet = true
	}
	if b, err := os.ReadFile(proc + "/diskstats"); err == nil {
		s.diskRead, s.diskWrite = diskBytes(b)
		s.haveDisk = true
	}
	return s
}

// cpuTimes sums the aggregate "cpu" line of /proc/stat: busy is all but
// idle and iowait.
func cpuTimes(stat []byte) (busy, total uint64) {
	line, _, _ := bytes.Cut(stat, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0
	}
	for i, v := range f[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		// guest and guest_nice (fields 9 and 10) are already in user and nice.
		if i >= 8 {
			break
		}
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

type memInfo struct{ total, available, shared uint64 }

func meminfo(proc string) (memInfo, bool) {
	b, err := os.ReadFile(proc + "/meminfo")
	if err != nil {
		return memInfo{}, false
	}
	var m memInfo
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "MemTotal:":
			m.total = kb << 10
		case "MemAvailable:":
			m.available = kb << 10
		case "Shmem:":
			m.shared = kb << 10
		}
	}
	return m, m.total > 0
}

// netBytes sums received and sent bytes over every interface but loopback.
func netBytes(dev []byte) (recv, sent uint64) {
	sc := bufio.NewScanner(bytes.NewReader(dev))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseUint(f[0], 10, 64)
		s, _ := strconv.ParseUint(f[8], 10, 64)
		recv += r
		sent += s
	}
	return recv, sent
}

// diskBytes sums sectors read and written (512 bytes each, whatever the
// device's block size) over whole disks: partitions, loop and ram devices
// would count the same I/O twice or none that reaches a disk.
func diskBytes(stats []byte) (read, written uint64) {
	sc := bufio.NewScanner(bytes.NewReader(stats))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || !wholeDisk(f[2]) {
			continue
		}
		r, _ := strconv.ParseUint(f[5], 10, 64)
		w, _ := strconv.ParseUint(f[9], 10, 64)
		read += r * 512
		written += w * 512
	}
	return read, written
}

func wholeDisk(name string) bool {
	for _, p := range []string{"loop", "ram", "dm-", "zram", "sr"} {
		if strings.HasPrefix(name, p) {
			return false
		}
	}
	// sda1, vda2, xvda1 are partitions; nvme0n1p1 and mmcblk0p1 too.
	if strings.HasPrefix(name, "nvme") || strings.HasPrefix(name, "mmcblk") {
		return !strings.Contains(name[4:], "p")
	}
	last := name[len(name)-1]
	return last < '0' || last > '9'
}
