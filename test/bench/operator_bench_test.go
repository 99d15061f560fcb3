// Package bench holds benchmarks that need a control plane: the operator's
// scale benchmark runs the real goray-operator binary against an envtest
// kube-apiserver and measures how fast 1,000 RayClusters become pods.
package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/testenv"
)

// BenchmarkOperatorScale creates GORAY_BENCH_CLUSTERS (default 1,000)
// RayClusters of one head and three workers and reports the seconds until
// every pod and every status exists, and the operator's peak RSS.
func BenchmarkOperatorScale(b *testing.B) {
	clusters := benchClusters()
	env := startBenchEnv(b)
	ctx := context.Background()
	dir := b.TempDir()

	bin := filepath.Join(dir, "goray-operator")
	build := exec.Command("go", "build", "-o", bin, "./cmd/goray-operator")
	build.Dir = testenv.RepoRoot()
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("building the operator: %v\n%s", err, out)
	}
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(env, kubeconfig); err != nil {
		b.Fatal(err)
	}

	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		metricsAddr := freeLoopbackAddr(b)
		args := []string{"--kubeconfig=" + kubeconfig, "--metrics-bind-address=" + metricsAddr, "--health-probe-bind-address=0", "--zap-log-level=error"}
		heapFile, cpuFile, pprofAddr := os.Getenv("GORAY_BENCH_OPERATOR_HEAP"), os.Getenv("GORAY_BENCH_OPERATOR_PROFILE"), ""
		if heapFile != "" || cpuFile != "" {
			pprofAddr = freeLoopbackAddr(b)
			args = append(args, "--pprof-bind-address="+pprofAddr)
		}
		op := exec.Command(bin, args...)
		op.Stderr = os.Stderr
		if err := op.Start(); err != nil {
			b.Fatal(err)
		}
		watches := startWatches(b, ctx, env)
		start := time.Now()
		profiled := profileAPIServer(b, env.Config)
		opProfiled := make(chan struct{})
		go func() {
			defer close(opProfiled)
			if cpuFile != "" {
				waitListening(pprofAddr)
				saveURL(b, "http://"+pprofAddr+"/debug/pprof/profile?seconds="+profileSeconds(), cpuFile)
			}
		}()
		cr := createClusters(ctx, env.Client, clusters, i, nil)
		waitAll(b, ctx, watches, env.Client, clusters, i, cr)
		created := cr.took
		elapsed := time.Since(start)
		watches.stop()
		peak := peakRSS(op.Process.Pid)
		calls := metricSums(metricsAddr, "rest_client_requests_total", "method")
		reconciles := metricSums(metricsAddr, "controller_runtime_reconcile_total", "controller")
		cpu := controlPlaneCPU()
		cpu["operator"] = cpuSeconds(op.Process.Pid)
		<-profiled
		<-opProfiled
		if heapFile != "" {
			saveURL(b, "http://"+pprofAddr+"/debug/pprof/heap", heapFile)
		}
		stopAt := time.Now()
		_ = op.Process.Signal(os.Interrupt)
		_ = op.Wait()
		b.Logf("operator stopped %.1f s after SIGINT", time.Since(stopAt).Seconds())
		b.ReportMetric(elapsed.Seconds(), "s/all-pods-and-statuses")
		b.ReportMetric(created.Seconds(), "s/creating-clusters")
		b.ReportMetric(float64(peak)/(1<<20), "MiB-peak-RSS")
		b.Logf("%d clusters (%d pods): all pods and statuses after %.1f s (clusters created in %.1f s); operator peak RSS %.0f MiB; operator API requests by verb: %v; reconciles: %v; CPU seconds since start: %v",
			clusters, clusters*4, elapsed.Seconds(), created.Seconds(), float64(peak)/(1<<20), calls, reconciles, cpu)
	}
}

// startBenchEnv starts the control plane (stopped when the benchmark ends)
// with the namespace "bench" the clusters go to.
func startBenchEnv(b *testing.B) *testenv.Env {
	env, err := testenv.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	if err := env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bench"}}); err != nil {
		b.Fatal(err)
	}
	return env
}

// controlPlaneCPU is the CPU seconds kube-apiserver and etcd used since they started.
func controlPlaneCPU() map[string]float64 {
	cpu := map[string]float64{}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		for _, pid := range pidsOf(filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), name)) {
			cpu[name] += cpuSeconds(pid)
		}
	}
	return cpu
}

// benchClusters is GORAY_BENCH_CLUSTERS, 1,000 when unset.
func benchClusters() int {
	if v, err := strconv.Atoi(os.Getenv("GORAY_BENCH_CLUSTERS")); err == nil && v > 0 {
		return v
	}
	return 1000
}

// creation is a background run of createClusters: done closes when every
// create finished, took and err are set before that.
type creation struct {
	done chan struct{}
	took time.Duration
	err  error
}

// createClusters creates n RayClusters from 16 goroutines, in the
// background so that waitAll reads its watches meanwhile (an unread watch
// whose buffer fills is closed by the API server). After each create, then
// (when not nil) runs with the created object.
func createClusters(ctx context.Context, c client.Client, n, round int, then func(*rayv1.RayCluster) error) *creation {
	cr := &creation{done: make(chan struct{})}
	start := time.Now()
	var wg sync.WaitGroup
	var once sync.Once
	work := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				rc := benchCluster(fmt.Sprintf("r%d-c%04d", round, i))
				err := c.Create(ctx, rc)
				if err == nil && then != nil {
					err = then(rc)
				}
				if err != nil {
					once.Do(func() { cr.err = err })
				}
			}
		}()
	}
	go func() {
		for i := 0; i < n; i++ {
			work <- i
		}
		close(work)
		wg.Wait()
		cr.took = time.Since(start)
		close(cr.done)
	}()
	return cr
}

// waitAll follows watches on the namespace's pods (metadata only) and
// RayClusters until n×4 pods exist and every cluster reports its workers,
// then checks with one list that there are exactly n×4 pods. Watching
// instead of polling lists keeps the benchmark's own load on the API server
// small (polling lists of 4,000 pods and 1,000 RayClusters every 250 ms took
// 8% of its CPU) and sees completion at once.
func waitAll(b *testing.B, ctx context.Context, w *benchWatches, c client.Client, n, round int, cr *creation) {
	prefix := fmt.Sprintf("r%d-", round)
	pods := map[string]bool{}
	ready := map[string]bool{}
	timeout := time.After(10 * time.Minute)
	creating := cr.done
	for len(pods) < n*4 || len(ready) < n || creating != nil {
		select {
		case <-creating:
			if cr.err != nil {
				b.Fatal(cr.err)
			}
			creating = nil
		case ev, ok := <-w.pods:
			if !ok {
				b.Fatal("pod watch ended")
			}
			m, isMeta := ev.Object.(*metav1.PartialObjectMetadata)
			if !isMeta || !strings.HasPrefix(m.Name, prefix) {
				continue
			}
			if ev.Type == watch.Deleted {
				delete(pods, m.Name)
			} else {
				pods[m.Name] = true
			}
		case ev, ok := <-w.clusters:
			if !ok {
				b.Fatal("RayCluster watch ended")
			}
			rc, isRC := ev.Object.(*rayv1.RayCluster)
			if !isRC || !strings.HasPrefix(rc.Name, prefix) {
				continue
			}
			if ev.Type != watch.Deleted && rc.Status.DesiredWorkerReplicas == 3 && rc.Status.ObservedGeneration == rc.Generation {
				ready[rc.Name] = true
			} else {
				delete(ready, rc.Name)
			}
		case <-timeout:
			b.Fatalf("timed out: %d pods, %d clusters with status", len(pods), len(ready))
		}
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	if err := c.List(ctx, list, client.InNamespace("bench")); err != nil {
		b.Fatal(err)
	}
	count := 0
	for _, p := range list.Items {
		if strings.HasPrefix(p.Name, prefix) {
			count++
		}
	}
	if count != n*4 {
		b.Fatalf("%d pods, want exactly %d", count, n*4)
	}
}

// benchWatches are the event streams waitAll follows, opened before the
// clusters are created.
type benchWatches struct {
	pods, clusters <-chan watch.Event
	stop           func()
}

func startWatches(b *testing.B, ctx context.Context, env *testenv.Env) *benchWatches {
	cfg := rest.CopyConfig(env.Config)
	cfg.DisableCompression = true
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		b.Fatal(err)
	}
	pods := &metav1.PartialObjectMetadataList{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	pw, err := c.Watch(ctx, pods, client.InNamespace("bench"))
	if err != nil {
		b.Fatal(err)
	}
	cw, err := c.Watch(ctx, &rayv1.RayClusterList{}, client.InNamespace("bench"))
	if err != nil {
		b.Fatal(err)
	}
	return &benchWatches{pods: pw.ResultChan(), clusters: cw.ResultChan(), stop: func() { pw.Stop(); cw.Stop() }}
}

func benchCluster(name string) *rayv1.RayCluster {
	container := func(n string) corev1.Container {
		return corev1.Container{Name: n, Image: "goray/goray:dev", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{corev1.ResourceCPU: resourceMust("1"), corev1.ResourceMemory: resourceMust("1Gi")}}}
	}
	return &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: name},
		Spec: rayv1.RayClusterSpec{
			HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container("ray-head")}}}},
			WorkerGroupSpecs: []rayv1.WorkerGroupSpec{{
				GroupName: "workers", Replicas: ptr.To[int32](3), MinReplicas: ptr.To[int32](0), MaxReplicas: ptr.To[int32](10),
				Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{container("ray-worker")}}},
			}},
		},
	}
}

func writeKubeconfig(env *testenv.Env, path string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.Config.Host, CertificateAuthorityData: env.Config.CAData}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: env.Config.CertData, ClientKeyData: env.Config.KeyData, Token: env.Config.BearerToken}
	cfg.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	cfg.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*cfg, path)
}

// peakRSS is the process's high-water resident set size in bytes (VmHWM).
func peakRSS(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if rest, ok := strings.CutPrefix(s.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func freeLoopbackAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// metricSums sums the operator's metric name by the value of its label key
// (rest_client_requests_total by method, reconciles by controller).
func metricSums(addr, name, key string) map[string]int {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	out := map[string]int{}
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		line := s.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		_, after, _ := strings.Cut(line, key+`="`)
		value, _, _ := strings.Cut(after, `"`)
		fields := strings.Fields(line)
		v, _ := strconv.ParseFloat(fields[len(fields)-1], 64)
		out[value] += int(v)
	}
	return out
}

// cpuSeconds is the user+system CPU time a process used so far.
func cpuSeconds(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	if len(fields) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(fields[11], 64)
	stime, _ := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

// pidsOf lists the processes whose executable path is exe.
func pidsOf(exe string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if target, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err == nil && target == exe {
			out = append(out, pid)
		}
	}
	return out
}

// profileAPIServer records a CPU profile of the kube-apiserver for the first
// GORAY_BENCH_APISERVER_PROFILE_SECONDS (default 20) into the file named by
// GORAY_BENCH_APISERVER_PROFILE, when set; the channel closes when done.
// GORAY_BENCH_OPERATOR_PROFILE does the same for the operator.
func profileAPIServer(b *testing.B, cfg *rest.Config) <-chan struct{} {
	done := make(chan struct{})
	path := os.Getenv("GORAY_BENCH_APISERVER_PROFILE")
	if path == "" {
		close(done)
		return done
	}
	secs := profileSeconds()
	go func() {
		defer close(done)
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			b.Error(err)
			return
		}
		data, err := cs.CoreV1().RESTClient().Get().AbsPath("/debug/pprof/profile").Param("seconds", secs).Timeout(5 * time.Minute).DoRaw(context.Background())
		if err != nil {
			b.Errorf("apiserver profile: %v", err)
			return
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			b.Error(err)
		}
	}()
	return done
}

// profileSeconds is how long the CPU profiles run: GORAY_BENCH_APISERVER_PROFILE_SECONDS (20).
func profileSeconds() string {
	if s := os.Getenv("GORAY_BENCH_APISERVER_PROFILE_SECONDS"); s != "" {
		return s
	}
	return "20"
}

// waitListening waits (up to 10 s) until something accepts connections on addr.
func waitListening(addr string) {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			_ = c.Close()
			return
		}
	}
}

// saveURL writes what url answers to path (the operator's heap profile when
// GORAY_BENCH_OPERATOR_HEAP names a file).
func saveURL(b *testing.B, url, path string) {
	resp, err := http.Get(url)
	if err != nil {
		b.Errorf("%s: %v", url, err)
		return
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		b.Error(err)
	}
}
