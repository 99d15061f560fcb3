package data

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Stats are kept per operator as its blocks go by (from the blocks'
// metadata: the tasks measure their own wall and CPU time) and read with
// Dataset.Stats after or during an execution, in the shape of Ray Data's
// stats string.

type execStats struct {
	mu    sync.Mutex
	start time.Time
	end   time.Time
	ops   []*opStats
	// iteration: time the consumer waited for blocks, and spent in them.
	waitNanos, fetchNanos int64
}

func newExecStats() *execStats { return &execStats{start: time.Now()} }

// op adds an operator's stats.
func (s *execStats) op(name string) *opStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := &opStats{name: name, start: time.Now()}
	s.ops = append(s.ops, o)
	return o
}

func (s *execStats) done() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.end.IsZero() {
		s.end = time.Now()
	}
}

func (s *execStats) addWait(wait, fetch time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waitNanos += wait.Nanoseconds()
	s.fetchNanos += fetch.Nanoseconds()
}

// summary is a running min/max/total.
type summary struct {
	n             int64
	min, max, sum int64
}

func (s *summary) add(v int64) {
	if s.n == 0 || v < s.min {
		s.min = v
	}
	if s.n == 0 || v > s.max {
		s.max = v
	}
	s.n++
	s.sum += v
}

func (s *summary) format(unit func(int64) string) string {
	if s.n == 0 {
		return "none"
	}
	return fmt.Sprintf("%s min, %s max, %s mean, %s total", unit(s.min), unit(s.max), unit(s.sum/s.n), unit(s.sum))
}

type opStats struct {
	mu                sync.Mutex
	name              string
	start, end        time.Time
	tasks, tasksDone  int
	totalTasks        int // when known before the run (reads): for progress
	wall, cpu         summary
	rows, bytes       summary
	firstOut, lastOut time.Time
}

func (o *opStats) taskStarted() {
	o.mu.Lock()
	o.tasks++
	o.mu.Unlock()
}

func (o *opStats) setTotalTasks(n int) {
	o.mu.Lock()
	o.totalTasks = n
	o.mu.Unlock()
}

func (o *opStats) taskDone() {
	o.mu.Lock()
	o.tasksDone++
	o.mu.Unlock()
}

func (o *opStats) block(m blockMeta) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.wall.add(m.WallNanos)
	o.cpu.add(m.CPUNanos)
	o.rows.add(m.Rows)
	o.bytes.add(m.Bytes)
	now := time.Now()
	if o.firstOut.IsZero() {
		o.firstOut = now
	}
	o.lastOut = now
}

func (o *opStats) finish() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.end.IsZero() {
		o.end = time.Now()
	}
}

func dur(ns int64) string { return time.Duration(ns).Round(time.Microsecond).String() }
func num(n int64) string  { return fmt.Sprint(n) }
func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1fGiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1fMiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1fKiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%dB", n)
}

// String is the execution's stats, an operator a paragraph.
func (s *execStats) String() string {
	s.mu.Lock()
	ops := append([]*opStats(nil), s.ops...)
	end := s.end
	wait, fetch := s.waitNanos, s.fetchNanos
	s.mu.Unlock()
	var b strings.Builder
	for i, o := range ops {
		o.mu.Lock()
		oend := o.end
		if oend.IsZero() {
			oend = time.Now()
		}
		tasks := fmt.Sprintf("%d tasks executed", o.tasks)
		if o.tasks == 0 {
			tasks = "no tasks"
		}
		fmt.Fprintf(&b, "Operator %d %s: %s, %d blocks produced in %s\n", i+1, o.name, tasks, o.rows.n, oend.Sub(o.start).Round(time.Millisecond))
		fmt.Fprintf(&b, "* Remote wall time: %s\n", o.wall.format(dur))
		fmt.Fprintf(&b, "* Remote cpu time: %s\n", o.cpu.format(dur))
		fmt.Fprintf(&b, "* Output num rows per block: %s\n", o.rows.format(num))
		fmt.Fprintf(&b, "* Output size bytes per block: %s\n", o.bytes.format(size))
		if d := o.lastOut.Sub(o.start).Seconds(); o.rows.sum > 0 && d > 0 {
			fmt.Fprintf(&b, "* Throughput: %.0f rows/s\n", float64(o.rows.sum)/d)
		}
		o.mu.Unlock()
		b.WriteString("\n")
	}
	if !end.IsZero() {
		fmt.Fprintf(&b, "Dataset iterator time breakdown:\n* Total time waiting for blocks: %s\n* Total time fetching blocks: %s\n* Total execution time: %s\n",
			dur(wait), dur(fetch), end.Sub(s.start).Round(time.Millisecond))
	}
	return b.String()
}

// statsCell holds a dataset's latest execution's stats.
type statsCell struct {
	mu sync.Mutex
	s  *execStats
}

func (c *statsCell) set(s *execStats) {
	c.mu.Lock()
	c.s = s
	c.mu.Unlock()
}

func (c *statsCell) get() *execStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.s
}

// Stats describes the dataset's latest execution (Ray's ds.stats()): per
// operator, its tasks, blocks, the tasks' wall and CPU time, rows and
// bytes per block and throughput; then the consumer's waits. Empty before
// the dataset has run.
func (d *Dataset) Stats() string {
	s := d.last.get()
	if s == nil {
		return ""
	}
	return s.String()
}
