package bench

import (
	"bytes"
	"os"
	"strconv"
)

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times (100
// on every Linux goray runs on).
const clockTicks = 100

// TreeCPU is the CPU time, in seconds, this process and every process
// under it (the embedded cluster's node managers and workers) have used,
// including children that exited and were waited for.
func TreeCPU() (float64, bool) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, false
	}
	type proc struct{ ppid, ticks int64 }
	procs := map[int64]proc{}
	for _, e := range ents {
		pid, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // gone
		}
		// After the command's closing parenthesis: state, ppid, ... with
		// utime, stime, cutime, cstime the 12th to 15th fields.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 15 {
			continue
		}
		ppid, _ := strconv.ParseInt(string(f[1]), 10, 64)
		var ticks int64
		for _, x := range f[11:15] {
			v, _ := strconv.ParseInt(string(x), 10, 64)
			ticks += v
		}
		procs[pid] = proc{ppid, ticks}
	}
	self := int64(os.Getpid())
	var total int64
	for pid, p := range procs {
		for q, hops := pid, 0; hops < 64; hops++ { // is self an ancestor?
			if q == self {
				total += p.ticks
				break
			}
			parent, ok := procs[q]
			if !ok || parent.ppid == q {
				break
			}
			q = parent.ppid
		}
	}
	return float64(total) / clockTicks, true
}

// readStatusKB is a "Name: N kB" field of /proc/self/status in bytes (0 if
// absent).
func readStatusKB(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(k) != field {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, err := strconv.ParseUint(string(f[0]), 10, 64)
		if err != nil {
			return 0
		}
		return n * 1024
	}
	return 0
}

// processRSS is a process's resident set (VmRSS) in bytes, 0 if unknown.
func processRSS(pid int) uint64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || string(k) != "VmRSS" {
			continue
		}
		f := bytes.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseUint(string(f[0]), 10, 64)
		return n * 1024
	}
	return 0
}

// treeProcs lists this process and every process under it.
func treeProcs() []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	parent := map[int]int{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(b[i+1:])
		if len(f) < 2 {
			continue
		}
		parent[pid], _ = strconv.Atoi(string(f[1]))
	}
	self := os.Getpid()
	var out []int
	for pid := range parent {
		for q, hops := pid, 0; hops < 64; hops++ {
			if q == self {
				out = append(out, pid)
				break
			}
			p, ok := parent[q]
			if !ok || p == q {
				break
			}
			q = p
		}
	}
	return out
}

// processCPU is the CPU time, in seconds, a process has used (its
// threads'; not its children's), 0 if unknown.
func processCPU(pid int) float64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(string(f[11]), 10, 64)
	s, _ := strconv.ParseInt(string(f[12]), 10, 64)
	return float64(u+s) / clockTicks
}
