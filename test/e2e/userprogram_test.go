//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestYourOwnProgram walks docs/quickstart.md's "Your own Go program": a Go
// developer builds their program (examples/square, a stand-in for any
// program that imports goray's SDK) and runs it on a RayCluster two ways —
// (1) `kubectl port-forward` to the head's dashboard and `goray job submit
// --working-dir` with the freshly built binary (uploaded as a package in
// chunks), and (2) a RayJob whose image holds the binary (packed here the
// way `docker build` with `FROM goray/goray` + `COPY` would). Both print
// the program's result, [0 1 4 9].
func TestYourOwnProgram(t *testing.T) {
	needOperator(t)
	const ns, name = "e2e-own-program", "own-program"
	scenarioNS(t, ns)
	work := t.TempDir()
	app := filepath.Join(work, "app")
	step(t, "go build the program", func() {
		build := exec.Command("go", "build", "-trimpath", "-o", filepath.Join(app, "square"), "./examples/square")
		build.Dir, build.Env = cluster.Repo, append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
	})

	b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-cluster.sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.Replace(string(b), "name: raycluster-sample", "name: "+name, 1)
	manifest = strings.Replace(manifest, "replicas: 2\n", "replicas: 1\n", 1)
	applyNS(t, ns, manifest)
	step(t, "RayCluster ready (head + 1 worker)", func() {
		waitFor(t, "RayCluster "+name, 5*time.Minute, func() (bool, string) {
			state := get(ns, "raycluster", name, "{.status.state}")
			ready := get(ns, "raycluster", name, "{.status.readyWorkerReplicas}")
			return state == "ready" && ready == "1", fmt.Sprintf("state=%q readyWorkerReplicas=%q", state, ready)
		})
	})
	raw, err := base64.StdEncoding.DecodeString(get(ns, "secret", name, "{.data.auth_token}"))
	if err != nil || len(raw) == 0 {
		t.Fatalf("the cluster's token: %v", err)
	}
	token := string(raw)

	step(t, "port-forward + goray job submit --working-dir", func() {
		addr := portForward(t, ns, "svc/"+name+"-head-svc", 8265)
		goray := filepath.Join(cluster.State, "images", "bin", "goray")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, goray, "job", "submit", "--address", "http://"+addr, "--working-dir", app, "--", "./square")
		cmd.Env = append(os.Environ(), "RAY_AUTH_MODE=token", "RAY_AUTH_TOKEN="+token)
		out, err := cmd.CombinedOutput()
		fmt.Print(indent(tail(string(out), 15)))
		if err != nil {
			t.Fatalf("goray job submit: %v", err)
		}
		if !strings.Contains(string(out), "[0 1 4 9]") || !strings.Contains(string(out), "' succeeded") {
			t.Fatalf("the job's output has no [0 1 4 9] or it did not succeed:\n%s", out)
		}
	})

	const image = "goray/e2e-square:dev"
	step(t, "an image with the program (goray's files + the binary), imported into the nodes", func() {
		bin := filepath.Join(cluster.State, "images", "bin")
		busybox := filepath.Join(os.Getenv("HOME"), ".cache", "goray", "busybox-static", "root", "bin", "busybox")
		tar := filepath.Join(work, "square.tar")
		args := []string{"-o", tar, "-t", image, "-entrypoint", "/usr/local/bin/goray", "-link", "/bin/sh=/bin/busybox",
			filepath.Join(bin, "goray") + "=/usr/local/bin/goray", busybox + "=/bin/busybox",
			filepath.Join(app, "square") + "=/usr/local/bin/square"}
		if b, err := exec.Command(filepath.Join(cluster.State, "bin", "goray-images"), args...).CombinedOutput(); err != nil {
			t.Fatalf("packing %s: %v\n%s", image, err, b)
		}
		if out, err := combined("bash", "-c", `source hack/cluster/lib.sh && import_image "$1"`, "-", tar); err != nil {
			t.Fatalf("importing %s: %v\n%s", image, err, out)
		}
	})
	step(t, "a RayJob running the program from its image", func() {
		applyNS(t, ns, fmt.Sprintf(`
apiVersion: ray.io/v1
kind: RayJob
metadata: {name: square}
spec:
  entrypoint: square
  shutdownAfterJobFinishes: true
  ttlSecondsAfterFinished: 60   # the cluster and the submitter Job stay a minute
  rayClusterSpec:
    headGroupSpec:
      rayStartParams: {}
      template:
        spec:
          containers:
          - name: ray-head
            image: %[1]s
            imagePullPolicy: Never
            resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 500m, memory: 512Mi}}
    workerGroupSpecs:
    - groupName: workers
      replicas: 1
      rayStartParams: {num-cpus: "1"}
      template:
        spec:
          containers:
          - name: ray-worker
            image: %[1]s
            imagePullPolicy: Never
            resources: {requests: {cpu: 250m, memory: 256Mi}, limits: {cpu: 500m, memory: 512Mi}}
`, image))
		deployment, job := waitJobEnd(t, ns, "square", 6*time.Minute)
		logs := submitterLogs(ns, "square")
		fmt.Print(indent(tail(logs, 10)))
		if deployment != "Complete" || job != "SUCCEEDED" || !strings.Contains(logs, "[0 1 4 9]") {
			t.Fatalf("RayJob square: jobDeploymentStatus %q, jobStatus %q, submitter logs:\n%s", deployment, job, logs)
		}
	})
}

var forwarding = regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)

// portForward runs `kubectl port-forward` to target's port on a free local
// port and returns 127.0.0.1:<port>; it stops with the test.
func portForward(t *testing.T, ns, target string, port int) string {
	t.Helper()
	cmd := exec.Command(filepath.Join(cluster.K8sBin, "kubectl"), "--kubeconfig", cluster.Kubeconfig, "-n", ns,
		"port-forward", "--address", "127.0.0.1", target, fmt.Sprintf("0:%d", port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := forwarding.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- "127.0.0.1:" + m[1]:
				default:
				}
			}
		}
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(30 * time.Second):
		t.Fatalf("kubectl port-forward %s: no local port within 30 s", target)
		return ""
	}
}
