package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// memoryUsage is one reading of the memory the node may use.
type memoryUsage struct {
	used, total uint64
	source      string // "of the machine", "of the node's cgroup"
}

func (u memoryUsage) fraction() float64 {
	if u.total == 0 {
		return 0
	}
	return float64(u.used) / float64(u.total)
}

// procRoot is where /proc and /sys are read (tests point it at testdata).
type procRoot string

// readMemoryUsage reads the machine's memory and, when the node's cgroup
// has a lower limit (a pod's memory limit), the cgroup's instead (as Ray).
// Page cache the kernel can drop (inactive file pages) is not counted.
func readMemoryUsage() (memoryUsage, error) { return procRoot("/").memoryUsage() }

func (r procRoot) path(p string) string { return filepath.Join(string(r), p) }

func (r procRoot) memoryUsage() (memoryUsage, error) {
	sys, err := r.machineMemory()
	if err != nil {
		return memoryUsage{}, err
	}
	if cg, ok := r.cgroupMemory(); ok && cg.total < sys.total {
		return cg, nil
	}
	return sys, nil
}

// machineMemory is MemTotal − MemAvailable from /proc/meminfo.
func (r procRoot) machineMemory() (memoryUsage, error) {
	b, err := os.ReadFile(r.path("proc/meminfo"))
	if err != nil {
		return memoryUsage{}, err
	}
	kv := parseKeyValues(b, ":")
	total, avail := kv["MemTotal"]*1024, kv["MemAvailable"]*1024
	if total == 0 {
		return memoryUsage{}, errors.New("/proc/meminfo has no MemTotal")
	}
	return memoryUsage{used: total - min(avail, total), total: total, source: "of the machine"}, nil
}

// cgroupMemory reads the memory limit and usage of this process's cgroup,
// v2 or v1; ok is false when it has no limit or cannot be read.
func (r procRoot) cgroupMemory() (memoryUsage, bool) {
	b, err := os.ReadFile(r.path("proc/self/cgroup"))
	if err != nil {
		return memoryUsage{}, false
	}
	mounts, _ := os.ReadFile(r.path("proc/self/mountinfo"))
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			if dir, ok := cgroupDir(r, mounts, "cgroup2", "", parts[2]); ok {
				if u, ok := cgroupUsage(dir, cgroupV2Files); ok {
					return u, true
				}
			}
		case hasController(parts[1], "memory"):
			if dir, ok := cgroupDir(r, mounts, "cgroup", "memory", parts[2]); ok {
				if u, ok := cgroupUsage(dir, cgroupV1Files); ok {
					return u, true
				}
			}
		}
	}
	return memoryUsage{}, false
}

func hasController(list, c string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == c {
			return true
		}
	}
	return false
}

// cgroupDir finds the directory of cgroup path in the mount of fstype (with
// the controller among its options, for v1). In a container whose cgroup
// namespace makes the path "/", the mount's root is the cgroup itself.
func cgroupDir(r procRoot, mountinfo []byte, fstype, controller, cgPath string) (string, bool) {
	for _, line := range strings.Split(string(mountinfo), "\n") {
		// id parent major:minor root mountpoint options ... - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, p := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(p) < 3 || p[0] != fstype {
			continue
		}
		if controller != "" && !hasController(p[2], controller) {
			continue
		}
		root, mnt := f[3], f[4]
		rel := strings.TrimPrefix(cgPath, root)
		if root == "/" {
			rel = cgPath
		}
		dir := r.path(filepath.Join(mnt, rel))
		if _, err := os.Stat(dir); err == nil {
			return dir, true
		}
		if _, err := os.Stat(r.path(mnt)); err == nil {
			return r.path(mnt), true
		}
	}
	return "", false
}

// The files of a cgroup's memory controller: v2's memory.max ("max" when
// unlimited), memory.current and memory.stat's inactive_file; v1's
// memory.limit_in_bytes (a huge number when unlimited, which the machine's
// smaller total then wins over), memory.usage_in_bytes and memory.stat's
// total_inactive_file.
var (
	cgroupV2Files = cgroupFiles{limit: "memory.max", usage: "memory.current", inactive: "inactive_file"}
	cgroupV1Files = cgroupFiles{limit: "memory.limit_in_bytes", usage: "memory.usage_in_bytes", inactive: "total_inactive_file"}
)

type cgroupFiles struct{ limit, usage, inactive string }

// cgroupUsage reads a cgroup's limit and its usage less the page cache it
// can drop; ok is false without a numeric limit.
func cgroupUsage(dir string, f cgroupFiles) (memoryUsage, bool) {
	limit, ok := readNumber(filepath.Join(dir, f.limit))
	if !ok {
		return memoryUsage{}, false
	}
	cur, ok := readNumber(filepath.Join(dir, f.usage))
	if !ok {
		return memoryUsage{}, false
	}
	stat, _ := os.ReadFile(filepath.Join(dir, "memory.stat"))
	inactive := parseKeyValues(stat, " ")[f.inactive]
	return memoryUsage{used: cur - min(inactive, cur), total: limit, source: "of the node's cgroup"}, true
}

func readNumber(path string) (uint64, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v, err := strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
	return v, err == nil
}

// parseKeyValues reads "key<sep> number [unit]" lines.
func parseKeyValues(b []byte, sep string) map[string]uint64 {
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(fields[0], 10, 64); err == nil {
			out[strings.TrimSpace(k)] = n
		}
	}
	return out
}

// String is the reading as the node's log shows it.
func (u memoryUsage) String() string {
	return fmt.Sprintf("%.2fGB / %.2fGB (%.3f) %s", float64(u.used)/1e9, float64(u.total)/1e9, u.fraction(), u.source)
}
