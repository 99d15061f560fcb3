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

// TestTLS: tlsOptions.enabled on the samples.
//
// (a) A RayCluster: the operator makes <cluster>-tls-ca and <cluster>-tls;
// the cluster becomes ready (the kubelet's probes over HTTPS), its worker
// joins the head over mutual TLS (`goray status` in the head), and
// `goray job list` in the head reaches the dashboard over HTTPS with the
// cluster's CA and the token. From a pod in another namespace plain HTTP
// to the dashboard is refused (400) and HTTPS without the cluster's CA
// fails its handshake. A deleted certificate Secret is made again by the
// same CA, and the cluster keeps working.
//
// (b) A RayJob (K8sJobMode) on a TLS cluster ends Complete/SUCCEEDED: the
// submitter calls the dashboard over HTTPS with the mounted certificate,
// and the operator follows the job with its own HTTPS client.
func TestTLS(t *testing.T) {
	needOperator(t)
	const ns, clientNS, name = "e2e-tls", "e2e-tls-client", "raycluster-tls"
	scenarioNS(t, ns)
	scenarioNS(t, clientNS)
	b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-cluster.sample.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	manifest := strings.Replace(string(b), "name: raycluster-sample", "name: "+name, 1)
	manifest = strings.Replace(manifest, "replicas: 2\n", "replicas: 1\n", 1)
	manifest = strings.Replace(manifest, "spec:\n  authOptions:", "spec:\n  tlsOptions:\n    enabled: true\n  authOptions:", 1)
	if !strings.Contains(manifest, "tlsOptions") {
		t.Fatalf("tlsOptions not added to the sample:\n%s", manifest)
	}
	start := time.Now()
	applyNS(t, ns, manifest)
	step(t, "TLS RayCluster ready (head + 1 worker, probes over HTTPS)", func() {
		waitFor(t, "RayCluster "+name, 5*time.Minute, func() (bool, string) {
			state := get(ns, "raycluster", name, "{.status.state}")
			ready := get(ns, "raycluster", name, "{.status.readyWorkerReplicas}")
			return state == "ready" && ready == "1", fmt.Sprintf("state=%q readyWorkerReplicas=%q", state, ready)
		})
	})
	logStep("TestTLS: cluster ready", start)

	var certPEM string
	step(t, "the operator's Secrets: CA and certificate", func() {
		if typ := get(ns, "secret", name+"-tls", "{.type}"); typ != "kubernetes.io/tls" {
			t.Errorf("Secret %s-tls type %q, want kubernetes.io/tls", name, typ)
		}
		for _, key := range []string{`tls\.crt`, `tls\.key`, `ca\.crt`} {
			if get(ns, "secret", name+"-tls", "{.data."+key+"}") == "" {
				t.Errorf("Secret %s-tls has no %s", name, key)
			}
		}
		if get(ns, "secret", name+"-tls-ca", `{.data.ca\.key}`) == "" {
			t.Errorf("Secret %s-tls-ca has no ca.key", name)
		}
		raw, _ := base64.StdEncoding.DecodeString(get(ns, "secret", name+"-tls", `{.data.tls\.crt}`))
		certPEM = string(raw)
	})
	head := headPod(t, ns, name)
	step(t, "the head mounts the certificate; probes are HTTPS", func() {
		if s := get(ns, "pod", head, "{.spec.containers[0].readinessProbe.httpGet.scheme}"); s != "HTTPS" {
			t.Errorf("head readiness probe scheme %q, want HTTPS", s)
		}
		env := get(ns, "pod", head, "{.spec.containers[0].env}")
		for _, want := range []string{`"RAY_USE_TLS","value":"1"`, `/etc/goray/tls/tls.crt`, `/etc/goray/tls/ca.crt`} {
			if !strings.Contains(env, want) {
				t.Errorf("head env lacks %s: %s", want, env)
			}
		}
	})
	step(t, "the worker joined over mutual TLS (goray status in the head)", func() {
		waitFor(t, "nodes in goray status", 2*time.Minute, func() (bool, string) {
			h, w, out, err := clusterNodes(ns, head)
			if err != nil {
				return false, err.Error() + ": " + tlsFirstLine(out)
			}
			return h == 1 && w == 1, fmt.Sprintf("%d head, %d workers", h, w)
		})
	})
	svc := name + "-head-svc." + ns + ".svc"
	jobList := func() (string, error) {
		return kubectlErr("-n", ns, "exec", head, "-c", "ray-head", "--", "goray", "job", "list", "--address", svc+":8265")
	}
	step(t, "HTTPS with the cluster's CA and the token: goray job list in the head", func() {
		if out, err := jobList(); err != nil {
			t.Errorf("goray job list over HTTPS: %v\n%s", err, out)
		}
	})

	step(t, "a pod in another namespace: plain HTTP refused, HTTPS without the CA fails", func() {
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
		out, _ := kubectlErr("-n", clientNS, "exec", "client", "--", "probe", "status", "http://"+svc+":8265/api/jobs/")
		fmt.Printf("    probe status http://%s:8265/api/jobs/ → %s\n", svc, tlsFirstLine(out))
		if tlsFirstLine(out) != "HTTP 400" {
			t.Errorf("plain HTTP to the TLS dashboard: %q, want HTTP 400 (Go's answer to HTTP on an HTTPS port)", tlsFirstLine(out))
		}
		out, err := kubectlErr("-n", clientNS, "exec", "client", "--", "probe", "status", "https://"+svc+":8265/api/jobs/")
		fmt.Printf("    probe status https://%s:8265/api/jobs/ → %s\n", svc, tlsFirstLine(out))
		if err == nil && strings.HasPrefix(tlsFirstLine(out), "HTTP ") {
			t.Errorf("HTTPS without the cluster's CA got an answer: %q", tlsFirstLine(out))
		}
	})

	step(t, "a deleted certificate Secret is made again by the same CA; the cluster keeps working", func() {
		kubectl(t, "-n", ns, "delete", "secret", name+"-tls")
		waitFor(t, "Secret "+name+"-tls made again", 2*time.Minute, func() (bool, string) {
			raw, _ := base64.StdEncoding.DecodeString(get(ns, "secret", name+"-tls", `{.data.tls\.crt}`))
			return len(raw) > 0 && string(raw) != certPEM, fmt.Sprintf("%d bytes", len(raw))
		})
		// The kubelet refreshes the mounted files within about a minute;
		// the runtime reads them again at its next handshake.
		waitFor(t, "the new certificate mounted in the head", 3*time.Minute, func() (bool, string) {
			out, err := kubectlErr("-n", ns, "exec", head, "-c", "ray-head", "--", "cat", "/etc/goray/tls/tls.crt")
			return err == nil && strings.TrimSpace(out) != strings.TrimSpace(certPEM), "old certificate"
		})
		time.Sleep(15 * time.Second) // past the runtime's 10 s look at its files
		if out, err := jobList(); err != nil {
			t.Errorf("goray job list after the new certificate: %v\n%s", err, out)
		}
		if h, w, out, err := clusterNodes(ns, head); err != nil || h != 1 || w != 1 {
			t.Errorf("goray status after the new certificate: %d head, %d workers, %v\n%s", h, w, err, out)
		}
	})

	const jobName = "rayjob-tls"
	step(t, "a RayJob (K8sJobMode) on a TLS cluster ends SUCCEEDED", func() {
		b, err := os.ReadFile(filepath.Join(cluster.Repo, "config/samples/ray-job.sample.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		job := strings.Replace(string(b), "name: rayjob-sample", "name: "+jobName, 1)
		job = strings.Replace(job, "  rayClusterSpec:\n", "  rayClusterSpec:\n    tlsOptions:\n      enabled: true\n", 1)
		if !strings.Contains(job, "tlsOptions") {
			t.Fatalf("tlsOptions not added to the RayJob sample:\n%s", job)
		}
		applyNS(t, ns, job)
		deployment, status := waitJobEnd(t, ns, jobName, 6*time.Minute)
		logs := submitterLogs(ns, jobName)
		fmt.Printf("    submitter logs:\n%s", indent(indent(tail(logs, 20))))
		if deployment != "Complete" || status != "SUCCEEDED" {
			t.Fatalf("RayJob ended %q/%q, want Complete/SUCCEEDED; message: %s", deployment, status, get(ns, "rayjob", jobName, "{.status.message}"))
		}
		if !strings.Contains(logs, "pi ≈ 3.1") {
			t.Errorf("the submitter's logs do not hold the result")
		}
	})
}

// tlsFirstLine is the first line of a command's output.
func tlsFirstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
