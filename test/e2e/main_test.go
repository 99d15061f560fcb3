//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cluster describes the test cluster, read from hack/cluster/lib.sh so the
// two never disagree.
type clusterInfo struct {
	Repo, State, Netns, VethHost, NodeIP, CgroupRoot, Kubeconfig, ContainerdSock string
	PodCIDR, ServiceCIDR, K8sBin                                                 string
	HostBindDirs                                                                 []string
}

var (
	cluster  clusterInfo
	reuse    = os.Getenv("GORAY_E2E_REUSE") == "1"
	keep     = os.Getenv("GORAY_E2E_KEEP") == "1"
	tornDown bool
	baseline hostSnapshot
	// images that load-images.sh packed and imported (goray/goray:dev, ...).
	loadedImages = map[string]bool{}
)

const probeImage = "goray/e2e-probe:dev"

func TestMain(m *testing.M) {
	if os.Geteuid() != 0 {
		fmt.Println("e2e: skipped: the test cluster needs root (network namespaces, mounts, cgroups)")
		os.Exit(0)
	}
	if err := loadClusterInfo(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	baseline = snapshotHost()
	code := func() int {
		start := time.Now()
		if reuse && run("hack/cluster/status.sh") == nil {
			logStep("cluster up (reused)", start)
		} else {
			if err := run("hack/cluster/up.sh"); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: hack/cluster/up.sh:", err)
				return 1
			}
			logStep("cluster up (hack/cluster/up.sh)", start)
		}
		bin, err := output("hack/control-plane.sh", "kubectl")
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: hack/control-plane.sh:", err)
			return 1
		}
		cluster.K8sBin = strings.TrimSpace(bin)

		start = time.Now()
		if err := loadImages(); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: loading images:", err)
			return 1
		}
		logStep("images loaded", start)
		return m.Run()
	}()
	if !tornDown && !reuse && !keep {
		start := time.Now()
		if err := run("hack/cluster/down.sh"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: hack/cluster/down.sh:", err)
			code = 1
		}
		logStep("cluster down (hack/cluster/down.sh)", start)
		for _, p := range hostProblems(baseline) {
			fmt.Fprintln(os.Stderr, "e2e: host not clean after down:", p)
			code = 1
		}
	}
	os.Exit(code)
}

func loadClusterInfo() error {
	repo, err := filepath.Abs("../..")
	if err != nil {
		return err
	}
	cluster.Repo = repo
	cmd := exec.Command("bash", "-c", `source hack/cluster/lib.sh && printf '%s\n' "$STATE" "$NETNS" "$VETH_HOST" "$NODE_IP" "$CGROUP_ROOT" "$KUBECONFIG_ADMIN" "$CONTAINERD_SOCK" "$POD_CIDR" "$SERVICE_CIDR" "${HOST_BIND_DIRS[*]}"`)
	cmd.Dir = repo
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("reading hack/cluster/lib.sh: %v", err)
	}
	v := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(v) != 10 {
		return fmt.Errorf("hack/cluster/lib.sh: unexpected settings %q", v)
	}
	cluster.State, cluster.Netns, cluster.VethHost, cluster.NodeIP, cluster.CgroupRoot = v[0], v[1], v[2], v[3], v[4]
	cluster.Kubeconfig, cluster.ContainerdSock, cluster.PodCIDR, cluster.ServiceCIDR = v[5], v[6], v[7], v[8]
	cluster.HostBindDirs = strings.Fields(v[9])
	return nil
}

// loadImages runs hack/cluster/load-images.sh and packs and imports the
// probe image from ./probe.
func loadImages() error {
	var args []string
	if os.Getenv("GORAY_E2E_KEEP_GOING") == "1" {
		args = append(args, "--keep-going")
	}
	out, err := combined("hack/cluster/load-images.sh", args...)
	fmt.Print(indent(out))
	if err != nil {
		return err
	}
	for _, img := range []string{"goray/goray:dev", "goray/operator:dev", "goray/redis:dev"} {
		if strings.Contains(out, "packed "+img) {
			loadedImages[img] = true
		}
	}
	dir := filepath.Join(cluster.State, "images")
	bin := filepath.Join(dir, "bin", "e2e-probe")
	tar := filepath.Join(dir, "e2e-probe.tar")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "./test/e2e/probe")
	build.Dir, build.Env = cluster.Repo, append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the probe: %v\n%s", err, b)
	}
	if b, err := exec.Command(filepath.Join(cluster.State, "bin", "goray-images"), "-o", tar, "-t", probeImage,
		"-entrypoint", "/usr/local/bin/probe", bin+"=/usr/local/bin/probe").CombinedOutput(); err != nil {
		return fmt.Errorf("packing the probe: %v\n%s", err, b)
	}
	_, err = combined("bash", "-c", `source hack/cluster/lib.sh && import_image "$1"`, "-", tar)
	return err
}

// run runs a repo script (path relative to the repo), streaming its output.
func run(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = cluster.Repo, os.Stdout, os.Stderr
	return cmd.Run()
}

func output(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = cluster.Repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %v\n%s", name, args, err, stderr.String())
	}
	return string(out), nil
}

func combined(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = cluster.Repo
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out), nil
}

// kubectl runs the cluster's kubectl (the apiserver's version) with the admin kubeconfig.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := kubectlErr(args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func kubectlErr(args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(cluster.K8sBin, "kubectl"), append([]string{"--kubeconfig", cluster.Kubeconfig}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String(), nil
}

// apply applies a manifest from a string.
func apply(t *testing.T, manifest string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(cluster.K8sBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig, "apply", "-f", "-")
	cmd.Stdin = strings.NewReader(manifest)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v\n%s\n--- manifest:\n%s", err, out, manifest)
	}
}

// step runs fn as a named, timed step of a test and prints its duration.
func step(t *testing.T, name string, fn func()) {
	t.Helper()
	start, failedBefore := time.Now(), t.Failed()
	defer func() {
		status := "ok"
		if t.Failed() && !failedBefore {
			status = "FAILED"
		}
		fmt.Printf("e2e: %-58s %7.2fs %s\n", t.Name()+": "+name, time.Since(start).Seconds(), status)
	}()
	fn()
}

func logStep(name string, start time.Time) {
	fmt.Printf("e2e: %-58s %7.2fs\n", name, time.Since(start).Seconds())
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ") + "\n"
}
