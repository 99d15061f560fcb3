//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

const smokeNS = "e2e-smoke"

// TestSmoke checks the test cluster itself: a Deployment of the pause image
// becomes Ready; a probe pod's logs and exec work; a ClusterIP Service
// resolves through CoreDNS from a pod and answers through kube-proxy, from a
// pod and from the root namespace (over the veth route); the goray image's
// entrypoint runs.
func TestSmoke(t *testing.T) {
	kubectlErr("delete", "namespace", smokeNS, "--wait=true", "--timeout=60s") // leftover of an aborted run
	kubectl(t, "create", "namespace", smokeNS)
	t.Cleanup(func() {
		step(t, "delete namespace", func() {
			if _, err := kubectlErr("delete", "namespace", smokeNS, "--wait=true", "--timeout=120s"); err != nil {
				t.Error(err)
			}
		})
	})

	step(t, "pause Deployment Ready (2 replicas)", func() {
		apply(t, fmt.Sprintf(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: pause, namespace: %s}
spec:
  replicas: 2
  selector: {matchLabels: {app: pause}}
  template:
    metadata: {labels: {app: pause}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: pause
        image: goray/pause:dev
        imagePullPolicy: Never
        resources: {requests: {cpu: 10m, memory: 8Mi}, limits: {cpu: 10m, memory: 8Mi}}
`, smokeNS))
		kubectl(t, "-n", smokeNS, "rollout", "status", "deployment/pause", "--timeout=120s")
	})

	var svcIP, podIP string
	step(t, "probe pod and Service Ready", func() {
		apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: %[1]s, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: probe
    image: %[2]s
    imagePullPolicy: Never
    args: [serve, ":8080"]
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /ready, port: 8080}, periodSeconds: 1}
---
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: %[1]s}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`, smokeNS, probeImage))
		kubectl(t, "-n", smokeNS, "wait", "--for=condition=Ready", "pod/web", "--timeout=120s")
		svcIP = strings.TrimSpace(kubectl(t, "-n", smokeNS, "get", "svc", "echo", "-o", "jsonpath={.spec.clusterIP}"))
		podIP = strings.TrimSpace(kubectl(t, "-n", smokeNS, "get", "pod", "web", "-o", "jsonpath={.status.podIP}"))
	})

	step(t, "kubectl logs", func() {
		if out := kubectl(t, "-n", smokeNS, "logs", "web"); !strings.Contains(out, "serving on :8080") {
			t.Errorf("kubectl logs web: %q", out)
		}
	})

	step(t, "kubectl exec", func() {
		out := kubectl(t, "-n", smokeNS, "exec", "web", "--", "/usr/local/bin/probe", "--help")
		if !strings.Contains(out, "e2e helper") {
			t.Errorf("kubectl exec: %q", out)
		}
	})

	step(t, "Service name resolves through CoreDNS from a pod", func() {
		name := "echo." + smokeNS + ".svc.cluster.local"
		out := kubectl(t, "-n", smokeNS, "exec", "web", "--", "/usr/local/bin/probe", "lookup", name)
		if strings.TrimSpace(out) != svcIP {
			t.Errorf("lookup %s = %q, want the ClusterIP %s", name, out, svcIP)
		}
		// A short name through the pod's search path: the API server's Service.
		// (Not the pod's own name: /etc/hosts maps that to the pod IP.)
		out = kubectl(t, "-n", smokeNS, "exec", "web", "--", "/usr/local/bin/probe", "lookup", "kubernetes.default")
		if strings.TrimSpace(out) != "10.0.0.1" {
			t.Errorf("lookup kubernetes.default = %q, want 10.0.0.1", out)
		}
	})

	step(t, "ClusterIP answers from a pod (kube-proxy)", func() {
		// The node's kube-proxy programs a new Service on its next sync: until
		// then the ClusterIP is not DNATed, and the node (no default route)
		// answers "network is unreachable". Bounded, as a client would retry.
		waitFor(t, "GET http://echo/ from the pod", time.Minute, func() (bool, string) {
			out, err := kubectlErr("-n", smokeNS, "exec", "web", "--", "/usr/local/bin/probe", "get", "http://echo/")
			return err == nil && strings.Contains(out, "200 OK") && strings.Contains(out, "probe web"), strings.TrimSpace(tail(out, 2))
		})
	})

	step(t, "in-cluster config reaches the API server (10.0.0.1, SA token)", func() {
		// The token is mounted by the kubelet and read through containerd: empty
		// if they did not share one mount namespace. The API server knows the
		// pod's service account, which may not list pods: 403 naming it.
		out := kubectl(t, "-n", smokeNS, "exec", "web", "--", "/usr/local/bin/probe", "api", "/api/v1/namespaces/"+smokeNS+"/pods")
		if !strings.Contains(out, "system:serviceaccount:"+smokeNS+":default") {
			t.Errorf("API call with the pod's service account: %q", out)
		}
	})

	step(t, "pod IP and ClusterIP answer from the root namespace", func() {
		for _, addr := range []string{podIP + ":8080", svcIP + ":80"} {
			// Only over the veth: a pod or service address routed anywhere
			// else would leave the machine.
			host, _, _ := net.SplitHostPort(addr)
			route, err := exec.Command("ip", "route", "get", host).Output()
			if err != nil || !strings.Contains(string(route), "dev "+cluster.VethHost) {
				t.Fatalf("route to %s is not via %s: %s %v", host, cluster.VethHost, route, err)
			}
			body, err := httpGet("http://" + addr + "/")
			if err != nil || !strings.Contains(body, "probe web") {
				t.Errorf("GET http://%s/: %q %v", addr, body, err)
			}
		}
	})

	if loadedImages["goray/goray:dev"] {
		step(t, "goray image: entrypoint runs (goray --help)", func() {
			apply(t, fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata: {name: goray-help, namespace: %s}
spec:
  restartPolicy: Never
  containers:
  - name: goray
    image: goray/goray:dev
    imagePullPolicy: Never
    args: ["--help"]
`, smokeNS))
			kubectl(t, "-n", smokeNS, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/goray-help", "--timeout=120s")
			if out := kubectl(t, "-n", smokeNS, "logs", "goray-help"); !strings.Contains(out, "goray") {
				t.Errorf("goray --help logs: %q", out)
			}
		})
	} else {
		t.Log("goray/goray:dev was not packed (no ./cmd/goray): skipping its entrypoint check")
	}
}

func httpGet(url string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	// No proxy from the environment: the request must go straight over the veth.
	c := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
