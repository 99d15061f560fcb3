package testproc

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Proc is a process as /proc/PID/stat tells it.
type Proc struct {
	PID, PPID int
	State     byte // 'R', 'S', 'Z' (a zombie: dead, not yet reaped) ...
}

// Procs lists the processes /proc holds (none where there is no /proc).
func Procs() []Proc {
	ents, _ := os.ReadDir("/proc")
	var out []Proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := stat(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

func stat(pid int) (Proc, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return Proc{}, false
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses, so
	// the fields start after the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Proc{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 || len(f[0]) != 1 {
		return Proc{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return Proc{PID: pid, PPID: ppid, State: f[0][0]}, true
}

// Alive reports whether pid is a live process (not a zombie).
func Alive(pid int) bool {
	p, ok := stat(pid)
	return ok && p.State != 'Z'
}

// Children are the live processes whose parent is pid.
func Children(pid int) []int {
	var out []int
	for _, p := range Procs() {
		if p.PPID == pid && p.State != 'Z' {
			out = append(out, p.PID)
		}
	}
	return out
}

// Descendants are the live processes below pid (its children, theirs, and
// so on), not pid itself.
func Descendants(pid int) []int {
	children := map[int][]int{}
	for _, p := range Procs() {
		if p.State != 'Z' {
			children[p.PPID] = append(children[p.PPID], p.PID)
		}
	}
	var out []int
	for next := children[pid]; len(next) > 0; {
		p := next[0]
		next = append(next[1:], children[p]...)
		out = append(out, p)
	}
	return out
}
