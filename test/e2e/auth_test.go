//go:build e2e

package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTokenAuth (f): a RayCluster without authOptions runs with token auth
// (goray's default) and restricted pods. From a pod in another namespace,
// the dashboard's job API answers 401 and the GCS's gRPC service
// Unauthenticated without the token, 200 and OK with the token of the
// Secret the operator generated; the health probe path stays open. The
// head's containers run as 65532 on a read-only root filesystem with a
// writable /tmp.
func TestTokenAuth(t *testing.T) {
	needOperator(t)
	const ns, clientNS, name = "e2e-auth", "e2e-auth-client", "raycluster-auth"
	scenarioNS(t, ns)
	scenarioNS(t, clientNS)
	b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-cluster.sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The sample without its authOptions (the default is tested), one worker.
	manifest := strings.Replace(string(b), "name: raycluster-sample", "name: "+name, 1)
	manifest = strings.Replace(manifest, "  authOptions:\n    mode: token   # the default; \"disabled\" turns auth off\n", "", 1)
	manifest = strings.Replace(manifest, "replicas: 2\n", "replicas: 1\n", 1)
	if strings.Contains(manifest, "\n  authOptions:") {
		t.Fatalf("the sample's authOptions were not removed:\n%s", manifest)
	}
	start := time.Now()
	applyNS(t, ns, manifest)
	step(t, "RayCluster without authOptions ready (head + 1 worker)", func() {
		waitFor(t, "RayCluster "+name, 5*time.Minute, func() (bool, string) {
			state := get(ns, "raycluster", name, "{.status.state}")
			ready := get(ns, "raycluster", name, "{.status.readyWorkerReplicas}")
			return state == "ready" && ready == "1", fmt.Sprintf("state=%q readyWorkerReplicas=%q", state, ready)
		})
	})
	logStep("TestTokenAuth: cluster ready", start)
	head := headPod(t, ns, name)

	step(t, "the head runs restricted: uid 65532, read-only root, writable /tmp", func() {
		sc := get(ns, "pod", head, `{.spec.containers[0].securityContext}`)
		for _, want := range []string{`"runAsUser":65532`, `"runAsNonRoot":true`, `"readOnlyRootFilesystem":true`, `"allowPrivilegeEscalation":false`, `"drop":["ALL"]`, `"RuntimeDefault"`} {
			if !strings.Contains(sc, want) {
				t.Errorf("head securityContext %s lacks %s", sc, want)
			}
		}
		if id := strings.TrimSpace(kubectl(t, "-n", ns, "exec", head, "-c", "ray-head", "--", "id", "-u")); id != "65532" {
			t.Errorf("id -u in the head = %q, want 65532", id)
		}
		if out, err := kubectlErr("-n", ns, "exec", head, "-c", "ray-head", "--", "touch", "/written-by-e2e"); err == nil {
			t.Errorf("the head's root filesystem is writable: %s", out)
		}
		kubectl(t, "-n", ns, "exec", head, "-c", "ray-head", "--", "touch", "/tmp/written-by-e2e")
		kubectl(t, "-n", ns, "exec", head, "-c", "ray-head", "--", "ls", "/tmp/goray")
	})

	var token string
	step(t, "the generated Secret holds the token", func() {
		enc := get(ns, "secret", name, "{.data.auth_token}")
		raw, err := base64.StdEncoding.DecodeString(enc)
		if err != nil || len(raw) < 32 {
			t.Fatalf("Secret %s auth_token %q: %v", name, enc, err)
		}
		token = string(raw)
	})

	step(t, "a probe pod in another namespace", func() {
		applyNS(t, clientNS, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: probe
    image: %s
    imagePullPolicy: Never
    args: [serve, ":8080"]
    resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 100m, memory: 64Mi}}
`, probeImage))
		kubectl(t, "-n", clientNS, "wait", "--for=condition=Ready", "pod/client", "--timeout=120s")
	})
	svc := name + "-head-svc." + ns + ".svc"
	probe := func(args ...string) string {
		t.Helper()
		out, err := kubectlErr(append([]string{"-n", clientNS, "exec", "client", "--", "probe"}, args...)...)
		if err != nil {
			t.Fatalf("probe %v: %v", args, err)
		}
		fmt.Printf("    probe %s → %s\n", strings.Join(redact(args, token), " "), firstLine(out))
		return firstLine(out)
	}
	jobs := "http://" + svc + ":8265/api/jobs/"
	step(t, "without the token: 401 and Unauthenticated; the probe path open", func() {
		if got := probe("status", jobs); got != "HTTP 401" {
			t.Errorf("GET /api/jobs/ without a token: %q, want HTTP 401", got)
		}
		if got := probe("status", "-token", "not-the-token", jobs); got != "HTTP 401" {
			t.Errorf("GET /api/jobs/ with a wrong token: %q, want HTTP 401", got)
		}
		if got := probe("gcs", svc+":6379"); got != "gRPC Unauthenticated" {
			t.Errorf("GetClusterStatus without a token: %q, want gRPC Unauthenticated", got)
		}
		if got := probe("status", "http://"+svc+":8265/api/gcs_healthz"); got != "HTTP 200" {
			t.Errorf("GET /api/gcs_healthz: %q, want HTTP 200 (the kubelet's probe)", got)
		}
	})
	step(t, "with the token: 200 and OK", func() {
		if got := probe("status", "-token", token, jobs); got != "HTTP 200" {
			t.Errorf("GET /api/jobs/ with the token: %q, want HTTP 200", got)
		}
		if got := probe("gcs", "-token", token, svc+":6379"); got != "gRPC OK" {
			t.Errorf("GetClusterStatus with the token: %q, want gRPC OK", got)
		}
	})
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// redact hides the token in printed probe arguments.
func redact(args []string, token string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if token != "" && a == token {
			a = "<token>"
		}
		out[i] = a
	}
	return out
}
