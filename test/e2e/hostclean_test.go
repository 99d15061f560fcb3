//go:build e2e

package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// hostSnapshot records what the host looked like before the cluster, so a
// KUBE-* chain or sysctl that was already there is not blamed on the cluster.
type hostSnapshot struct {
	kubeChains int
	sysctls    map[string]string
	dirs       map[string]bool
}

// Kernel-wide sysctls the kubelet would set; node.sh masks them (see lib.sh).
var watchedSysctls = []string{"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops"}

func snapshotHost() hostSnapshot {
	s := hostSnapshot{kubeChains: kubeChains(), sysctls: map[string]string{}, dirs: map[string]bool{}}
	for _, k := range watchedSysctls {
		b, _ := os.ReadFile("/proc/sys/" + k)
		s.sysctls[k] = strings.TrimSpace(string(b))
	}
	for _, d := range hostDirs() {
		_, err := os.Stat(d)
		s.dirs[d] = err == nil
	}
	return s
}

// kubeChains counts KUBE-* chains in the root namespace's iptables (all tables).
func kubeChains() int {
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		return 0
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, ":KUBE-") {
			n++
		}
	}
	return n
}

// hostProblems lists what the cluster left behind on the host.
func hostProblems(before hostSnapshot) []string {
	var p []string
	if _, err := os.Stat("/run/netns/" + cluster.Netns); err == nil {
		p = append(p, "network namespace "+cluster.Netns+" still exists")
	}
	if _, err := net.InterfaceByName(cluster.VethHost); err == nil {
		p = append(p, "veth "+cluster.VethHost+" still exists")
	}
	if out, err := exec.Command("ip", "route", "show").Output(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.Contains(l, "via "+cluster.NodeIP) || strings.Contains(l, cluster.VethHost) {
				p = append(p, "route left: "+l)
			}
		}
	}
	if n := kubeChains(); n > before.kubeChains {
		p = append(p, fmt.Sprintf("%d KUBE-* iptables chain(s) in the root namespace (%d before)", n, before.kubeChains))
	}
	// Mounts under the state folder, in any mount namespace on the machine.
	procs, _ := filepath.Glob("/proc/[0-9]*")
	seen := map[string]bool{}
	for _, proc := range procs {
		b, err := os.ReadFile(proc + "/mountinfo")
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) > 4 && strings.HasPrefix(f[4], cluster.State) && !seen[f[4]] {
				seen[f[4]] = true
				p = append(p, fmt.Sprintf("mount left: %s (seen by %s)", f[4], proc))
			}
		}
		// Processes the cluster started: every component and containerd shim
		// names a file in the state folder on its command line. (The same
		// binaries run elsewhere too, e.g. envtest's: not ours.)
		cmdline, _ := os.ReadFile(proc + "/cmdline")
		cl := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.Contains(cl, cluster.State+"/") {
			p = append(p, fmt.Sprintf("process left: %s %s", proc, cl))
		}
	}
	cg, _ := filepath.Glob("/sys/fs/cgroup/*" + cluster.CgroupRoot)
	for _, d := range cg {
		p = append(p, "cgroup left: "+d)
	}
	if pids, _ := filepath.Glob(filepath.Join(cluster.State, "run", "*.pid")); len(pids) > 0 {
		p = append(p, fmt.Sprintf("pid files left: %v", pids))
	}
	for _, d := range hostDirs() {
		if _, err := os.Stat(d); err == nil && !before.dirs[d] {
			p = append(p, "folder left on the host: "+d)
		}
	}
	for _, k := range watchedSysctls {
		b, _ := os.ReadFile("/proc/sys/" + k)
		if v := strings.TrimSpace(string(b)); v != before.sysctls[k] {
			p = append(p, fmt.Sprintf("sysctl %s changed: %s -> %s", k, before.sysctls[k], v))
		}
	}
	return p
}

// hostDirs are the host folders the cluster may create: mount points for its
// bind mounts, and /run/netns (made by `ip netns add`).
func hostDirs() []string { return append([]string{"/run/netns"}, cluster.HostBindDirs...) }
