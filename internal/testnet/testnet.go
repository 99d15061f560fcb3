// Package testnet makes test hosts on one machine: network namespaces,
// each with its own address on a private subnet and a link of limited
// rate to a switch (a bridge in a namespace of its own), for tests and
// benchmarks of what crosses a network — object transfers between nodes
// whose speed is set by their links, not by the machine's memory copies,
// as between real machines. A host has no route but its subnet's: it
// reaches the other hosts and nothing else.
//
// It needs root and iproute2 (ip, tc); Available says whether they are
// there. Namespaces left by a test that was killed are removed by the next
// New of the same prefix.
package testnet

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Net is a set of hosts on one switch.
type Net struct {
	// Hosts are the namespaces, in order: Hosts[i].IP is 10.<k>.0.<i+1>.
	Hosts  []Host
	prefix string
	sw     string // the switch's namespace
}

// Host is one test host.
type Host struct {
	NS string // the network namespace
	IP string
}

// Available reports why hosts cannot be made here (nil: they can).
func Available() error {
	if os.Geteuid() != 0 {
		return errors.New("network namespaces need root")
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s (iproute2) is not installed", tool)
		}
	}
	// A container may deny making namespaces even to root: try one.
	probe := fmt.Sprintf("goray-probe-%d", os.Getpid())
	if err := run("ip", "netns", "add", probe); err != nil {
		return fmt.Errorf("cannot make network namespaces here: %w", err)
	}
	return run("ip", "netns", "del", probe)
}

// New makes n hosts named after prefix (a few lowercase letters), each
// linked to the switch at rate in both directions (tc's notation, such as
// "400mbit"; "" for no limit).
func New(prefix string, n int, rate string) (_ *Net, err error) {
	if err := Available(); err != nil {
		return nil, err
	}
	if n < 1 || n > 200 {
		return nil, fmt.Errorf("testnet: %d hosts", n)
	}
	sweep(prefix)
	pid := os.Getpid()
	tag := fmt.Sprintf("%s%d", prefix, pid%100000)
	net := &Net{prefix: fmt.Sprintf("goray-%s-%d", prefix, pid)}
	net.sw = net.prefix + "-sw"
	defer func() {
		if err != nil {
			net.Close()
		}
	}()
	// A subnet per process, so that two runs never share addresses.
	subnet := fmt.Sprintf("10.%d.%d", 100+pid%150, (pid/150)%250)
	if err := run("ip", "netns", "add", net.sw); err != nil {
		return nil, err
	}
	if err := runAll(
		[]string{"ip", "-n", net.sw, "link", "add", "sw0", "type", "bridge"},
		[]string{"ip", "-n", net.sw, "link", "set", "sw0", "up"},
	); err != nil {
		return nil, err
	}
	for i := range n {
		h := Host{NS: fmt.Sprintf("%s-%d", net.prefix, i), IP: fmt.Sprintf("%s.%d", subnet, i+1)}
		if err := run("ip", "netns", "add", h.NS); err != nil {
			return nil, err
		}
		net.Hosts = append(net.Hosts, h)
		// Interface names are at most 15 bytes and global until moved.
		in, out := fmt.Sprintf("%sh%d", tag, i), fmt.Sprintf("%ss%d", tag, i)
		cmds := [][]string{
			{"ip", "link", "add", in, "type", "veth", "peer", "name", out},
			{"ip", "link", "set", in, "netns", h.NS},
			{"ip", "link", "set", out, "netns", net.sw},
			{"ip", "-n", h.NS, "link", "set", in, "name", "eth0"},
			{"ip", "-n", h.NS, "addr", "add", h.IP + "/24", "dev", "eth0"},
			{"ip", "-n", h.NS, "link", "set", "eth0", "up"},
			{"ip", "-n", h.NS, "link", "set", "lo", "up"},
			{"ip", "-n", net.sw, "link", "set", out, "master", "sw0"},
			{"ip", "-n", net.sw, "link", "set", out, "up"},
		}
		if rate != "" {
			// The host's uplink and downlink: each direction shaped where
			// it leaves a namespace.
			cmds = append(cmds,
				shape(h.NS, "eth0", rate),
				shape(net.sw, out, rate))
		}
		if err := runAll(cmds...); err != nil {
			return nil, err
		}
	}
	return net, nil
}

// shape limits what leaves dev in ns to rate, with a queue of at most
// 50 ms: a token bucket, as a link of that speed.
func shape(ns, dev, rate string) []string {
	return []string{"tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", rate, "burst", "256kb", "latency", "50ms"}
}

// Command runs name in host i's namespace.
func (n *Net) Command(i int, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", n.Hosts[i].NS, name}, args...)...)
}

// Close removes the hosts and the switch (their links go with them).
func (n *Net) Close() {
	for _, h := range n.Hosts {
		_ = run("ip", "netns", "del", h.NS)
	}
	_ = run("ip", "netns", "del", n.sw)
}

// sweep removes the namespaces of prefix whose process is gone.
func sweep(prefix string) {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		rest, ok := strings.CutPrefix(name, "goray-"+prefix+"-")
		if !ok {
			continue
		}
		pidText, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if syscall.Kill(pid, 0) == nil {
			continue // its test still runs
		}
		_ = run("ip", "netns", "del", name)
	}
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func runAll(cmds ...[]string) error {
	for _, c := range cmds {
		if err := run(c[0], c[1:]...); err != nil {
			return err
		}
	}
	return nil
}
