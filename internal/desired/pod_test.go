package desired

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestPodLabels(t *testing.T) {
	tests := []struct {
		name      string
		build     func(c *rayv1.RayCluster) *corev1.Pod
		nodeType  string
		group     string
		tmplLabel func(c *rayv1.RayCluster) *map[string]string
	}{
		{"head", func(c *rayv1.RayCluster) *corev1.Pod { return HeadPod(c, PodOptions{}) }, "head", "headgroup",
			func(c *rayv1.RayCluster) *map[string]string { return &c.Spec.HeadGroupSpec.Template.Labels }},
		{"worker", func(c *rayv1.RayCluster) *corev1.Pod { return WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}) }, "worker", "small",
			func(c *rayv1.RayCluster) *map[string]string { return &c.Spec.WorkerGroupSpecs[0].Template.Labels }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			// The template tries to set our labels; ours must win, its own must stay.
			*tt.tmplLabel(c) = map[string]string{
				"team":                            "ml",
				rayv1.RayClusterLabelKey:          "other",
				rayv1.RayNodeTypeLabelKey:         "bogus",
				rayv1.RayNodeGroupLabelKey:        "bogus",
				rayv1.RayIsRayNodeLabelKey:        "no",
				rayv1.RayIDLabelKey:               "bogus",
				rayv1.KubernetesCreatedByLabelKey: "someone",
			}
			tmplBefore := map[string]string{}
			for k, v := range *tt.tmplLabel(c) {
				tmplBefore[k] = v
			}
			pod := tt.build(c)
			want := map[string]string{
				"team":                             "ml",
				rayv1.RayClusterLabelKey:           "demo",
				rayv1.RayNodeTypeLabelKey:          tt.nodeType,
				rayv1.RayNodeGroupLabelKey:         tt.group,
				rayv1.RayIsRayNodeLabelKey:         "yes",
				rayv1.RayIDLabelKey:                "demo-" + tt.nodeType,
				rayv1.KubernetesApplicationNameKey: "kuberay",
				rayv1.KubernetesCreatedByLabelKey:  "goray-operator",
			}
			if !reflect.DeepEqual(pod.Labels, want) {
				t.Errorf("labels = %v\nwant %v", pod.Labels, want)
			}
			if !reflect.DeepEqual(*tt.tmplLabel(c), tmplBefore) {
				t.Errorf("builder mutated the template labels: %v", *tt.tmplLabel(c))
			}
			if pod.Namespace != "ns1" || pod.Name != "" {
				t.Errorf("namespace/name = %q/%q, want ns1 and a generated name", pod.Namespace, pod.Name)
			}
			checkOwner(t, pod.OwnerReferences, c)
			if tt.nodeType == "head" {
				for k, v := range HeadSelector("demo") {
					if pod.Labels[k] != v {
						t.Errorf("head pod does not match HeadSelector at %s", k)
					}
				}
			}
		})
	}
}

func TestPodGenerateName(t *testing.T) {
	long := strings.Repeat("c", 60)
	tests := []struct {
		name, got, want string
	}{
		{"head", HeadPodGenerateName("demo"), "demo-head-"},
		{"worker", WorkerPodGenerateName("demo", "small"), "demo-small-worker-"},
		{"head truncated", HeadPodGenerateName(long), strings.Repeat("c", 50) + "-"},
		{"worker truncated", WorkerPodGenerateName("demo", strings.Repeat("g", 60)), "demo-" + strings.Repeat("g", 45) + "-"},
		// 44 c's + "-head" = 49; 45 → exactly 50; 46 → cut leaves "...-hea".
		{"head exactly 50", HeadPodGenerateName(strings.Repeat("c", 45)), strings.Repeat("c", 45) + "-head-"},
		{"head cut at 50", HeadPodGenerateName(strings.Repeat("c", 46)), strings.Repeat("c", 46) + "-hea-"},
		// The cut lands right after a '-': no "--" in the prefix.
		{"no double dash", HeadPodGenerateName(strings.Repeat("c", 49) + "-x"), strings.Repeat("c", 49) + "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
			if len(tt.got) > 51 {
				t.Errorf("prefix %q is %d chars, want ≤ 51", tt.got, len(tt.got))
			}
		})
	}
	c := testCluster()
	if got := HeadPod(c, PodOptions{}).GenerateName; got != "demo-head-" {
		t.Errorf("HeadPod generateName = %q", got)
	}
	if got := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).GenerateName; got != "demo-small-worker-" {
		t.Errorf("WorkerPod generateName = %q", got)
	}
}

func TestHeadCommand(t *testing.T) {
	defaults := []string{"--block", "--dashboard-agent-listen-port=52365", "--dashboard-host=0.0.0.0", "--dashboard-port=8265", "--metrics-export-port=8080", "--node-ip-address=$(RAY_POD_IP)"}
	tests := []struct {
		name   string
		params map[string]string
		lim    []string
		req    []string
		res    map[string]string
		want   []string // flags besides the defaults, in order after merging
	}{
		{name: "defaults", want: []string{"--port=6379"}},
		{name: "sorted params and bare flag", params: map[string]string{"z-flag": "1", "disable-usage-stats": "", "a-flag": "x"},
			want: []string{"--a-flag=x", "--disable-usage-stats", "--port=6379", "--z-flag=1"}},
		// KubeRay's rules (convertParamMap): "true" is the bare switch, "false"
		// leaves it out; include-dashboard takes true/false as a value; an
		// empty value of a flag that takes one stays that flag's (empty) value.
		{name: "switches and empty values", params: map[string]string{"enable-resource-isolation": "true", "no-monitor": "false",
			"include-dashboard": "false", "node-name": ""},
			want: []string{"--enable-resource-isolation", "--include-dashboard=false", "--node-name=", "--port=6379"}},
		// Values are shell words: KubeRay's ray-job.resources.yaml sample, and
		// an environment reference the kubelet expands.
		{name: "shell words", params: map[string]string{"resources": `"{\"resource1\": 2, \"resource2\": 3}"`, "num-cpus": "'0'",
			"redis-password": "$REDIS_PASSWORD", "temp-dir": `'/tmp/a $b'`},
			want: []string{"--num-cpus=0", "--port=6379", "--redis-password=$(REDIS_PASSWORD)", `--resources={"resource1":2,"resource2":3}`, "--temp-dir=/tmp/a $$b"}},
		{name: "tpu added to the user's resources", params: map[string]string{"resources": `'{"accel": 1}'`}, lim: []string{"google.com/tpu", "4"},
			want: []string{"--port=6379", `--resources={"TPU":4,"accel":1}`}},
		{name: "user's TPU kept", params: map[string]string{"resources": `'{"TPU": 2}'`}, lim: []string{"google.com/tpu", "4"},
			want: []string{"--port=6379", `--resources={"TPU":2}`}},
		{name: "port override", params: map[string]string{"port": "6380"}, want: []string{"--port=6380"}},
		{name: "limits fill cpu memory gpu", lim: []string{"cpu", "2", "memory", "1Gi", "nvidia.com/gpu", "1"},
			want: []string{"--memory=1073741824", "--num-cpus=2", "--num-gpus=1", "--port=6379"}},
		{name: "fractional cpu", lim: []string{"cpu", "500m"}, want: []string{"--num-cpus=0.5", "--port=6379"}},
		{name: "1500m cpu", lim: []string{"cpu", "1500m"}, want: []string{"--num-cpus=1.5", "--port=6379"}},
		{name: "given params win over limits", params: map[string]string{"num-cpus": "7", "memory": "100", "num-gpus": "0"},
			lim:  []string{"cpu", "2", "memory", "1Gi", "nvidia.com/gpu", "4"},
			want: []string{"--memory=100", "--num-cpus=7", "--num-gpus=0", "--port=6379"}},
		{name: "zero gpu limit ignored", lim: []string{"nvidia.com/gpu", "0"}, want: []string{"--port=6379"}},
		{name: "tpu to resources json", lim: []string{"google.com/tpu", "4"}, want: []string{"--port=6379", `--resources={"TPU":4}`}},
		{name: "group resources merged and sorted", lim: []string{"google.com/tpu", "4"}, res: map[string]string{"Custom": "2", "TPU": "8"},
			want: []string{"--port=6379", `--resources={"Custom":2,"TPU":8}`}},
		{name: "limits preferred to requests", lim: []string{"cpu", "3"}, req: []string{"cpu", "1"}, want: []string{"--num-cpus=3", "--port=6379"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			h := &c.Spec.HeadGroupSpec
			if tt.params != nil {
				h.RayStartParams = tt.params
			}
			h.Resources = tt.res
			h.Template.Spec.Containers[0].Resources.Limits = limits(tt.lim...)
			h.Template.Spec.Containers[0].Resources.Requests = limits(tt.req...)
			pod := HeadPod(c, PodOptions{})
			want := append([]string{"goray", "start", "--head"}, mergeSorted(defaults, tt.want)...)
			if got := pod.Spec.Containers[0].Command; !slices.Equal(got, want) {
				t.Errorf("command =\n %q\nwant\n %q", got, want)
			}
			if len(pod.Spec.Containers[0].Args) != 0 {
				t.Errorf("args = %q, want none", pod.Spec.Containers[0].Args)
			}
		})
	}
}

// mergeSorted sorts flags the way the builder does (by key).
func mergeSorted(a, b []string) []string {
	out := slices.Concat(a, b)
	key := func(s string) string { k, _, _ := strings.Cut(s, "="); return k }
	slices.SortFunc(out, func(x, y string) int { return strings.Compare(key(x), key(y)) })
	return out
}

func TestWorkerCommand(t *testing.T) {
	defaults := []string{"--block", "--dashboard-agent-listen-port=52365", "--metrics-export-port=8080", "--node-ip-address=$(RAY_POD_IP)"}
	tests := []struct {
		name    string
		edit    func(c *rayv1.RayCluster)
		domain  string
		address string
		extra   []string
	}{
		{name: "default address", address: "demo-head-svc.ns1.svc.cluster.local:6379"},
		{name: "custom cluster domain", domain: "corp.example", address: "demo-head-svc.ns1.svc.corp.example:6379"},
		{name: "head port override", edit: func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.RayStartParams["port"] = "7000" },
			address: "demo-head-svc.ns1.svc.cluster.local:7000"},
		{name: "head service name override", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.HeadService = &corev1.Service{}
			c.Spec.HeadGroupSpec.HeadService.Name = "my-head"
		}, address: "my-head.ns1.svc.cluster.local:6379"},
		{name: "worker params and limits", edit: func(c *rayv1.RayCluster) {
			g := &c.Spec.WorkerGroupSpecs[0]
			g.RayStartParams["object-store-memory"] = "100"
			g.Template.Spec.Containers[0].Resources.Limits = limits("cpu", "250m", "memory", "2G")
		}, address: "demo-head-svc.ns1.svc.cluster.local:6379",
			extra: []string{"--memory=2000000000", "--num-cpus=0.25", "--object-store-memory=100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			if tt.edit != nil {
				tt.edit(c)
			}
			pod := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{ClusterDomain: tt.domain})
			want := append([]string{"goray", "start", "--address=" + tt.address}, mergeSorted(defaults, tt.extra)...)
			if got := pod.Spec.Containers[0].Command; !slices.Equal(got, want) {
				t.Errorf("command =\n %q\nwant\n %q", got, want)
			}
			if slices.ContainsFunc(pod.Spec.Containers[0].Command, func(s string) bool { return s == "--head" || strings.HasPrefix(s, "--port") }) {
				t.Errorf("worker command has head flags: %q", pod.Spec.Containers[0].Command)
			}
			if got := mustEnv(t, pod.Spec.Containers[0].Env, "RAY_ADDRESS").Value; got != tt.address {
				t.Errorf("RAY_ADDRESS = %q, want %q", got, tt.address)
			}
		})
	}
}

func TestGroupLabelsFlag(t *testing.T) {
	// The rendering of --labels is the runtime's business; check only that
	// every group label reaches exactly one --labels flag.
	c := testCluster()
	c.Spec.WorkerGroupSpecs[0].Labels = map[string]string{"zone": "a", "accel": "x"}
	cmd := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.Containers[0].Command
	var got []string
	for _, s := range cmd {
		if v, ok := strings.CutPrefix(s, "--labels="); ok {
			got = append(got, v)
		}
	}
	if len(got) != 1 || !strings.Contains(got[0], "zone") || !strings.Contains(got[0], "accel") {
		t.Errorf("--labels flags = %q, want one with zone and accel", got)
	}
	c = testCluster()
	for _, s := range HeadPod(c, PodOptions{}).Spec.Containers[0].Command {
		if strings.HasPrefix(s, "--labels") {
			t.Errorf("--labels without group labels: %q", s)
		}
	}
}

func TestOverwriteContainerCmd(t *testing.T) {
	for _, worker := range []bool{false, true} {
		c := testCluster()
		c.Annotations = map[string]string{rayv1.OverwriteContainerCmdAnnotation: "true"}
		c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Command = []string{"my-entry"}
		c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Args = []string{"--flag"}
		c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Command = []string{"my-entry"}
		c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Args = []string{"--flag"}
		pod := HeadPod(c, PodOptions{})
		if worker {
			pod = WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
		}
		ct := pod.Spec.Containers[0]
		if !slices.Equal(ct.Command, []string{"my-entry"}) || !slices.Equal(ct.Args, []string{"--flag"}) {
			t.Errorf("worker=%v: command/args = %q %q, want the user's kept", worker, ct.Command, ct.Args)
		}
	}
}

// fakeBin writes an executable that records its arguments, one per line, to out.
func fakeBin(t *testing.T, dir, name, out string) {
	t.Helper()
	script := "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > " + out + "\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// runShellCommand runs the container's /bin/sh command with stub binaries and
// returns the argv the user command and goray received.
func runShellCommand(t *testing.T, ct corev1.Container) (user, runtime []string) {
	t.Helper()
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	fakeBin(t, dir, "user-entry", filepath.Join(dir, "user.out"))
	fakeBin(t, dir, "goray", filepath.Join(dir, "goray.out"))
	cmd := exec.Command("sh", append(ct.Command[1:], ct.Args...)...)
	cmd.Env = []string{"PATH=" + dir + ":/usr/bin:/bin"}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shell failed: %v\n%s", err, out)
	}
	return readLines(t, filepath.Join(dir, "user.out")), readLines(t, filepath.Join(dir, "goray.out"))
}

func TestUserCommandRunsBeforeRuntime(t *testing.T) {
	c := testCluster()
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Command = []string{"user-entry"}
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Args = []string{"one", "two"}
	ct := HeadPod(c, PodOptions{}).Spec.Containers[0]
	if !slices.Equal(ct.Command, []string{"/bin/sh", "-c", "--"}) || len(ct.Args) != 1 {
		t.Fatalf("command/args = %q %q, want /bin/sh -c -- and one script", ct.Command, ct.Args)
	}
	if !strings.HasPrefix(ct.Args[0], "user-entry one two && exec 'goray' 'start' '--head' ") {
		t.Errorf("script = %q", ct.Args[0])
	}
	user, runtime := runShellCommand(t, ct)
	if !slices.Equal(user, []string{"one", "two"}) {
		t.Errorf("user argv = %q", user)
	}
	if len(runtime) < 2 || runtime[0] != "start" || runtime[1] != "--head" || !slices.Contains(runtime, "--port=6379") {
		t.Errorf("runtime argv = %q", runtime)
	}
}

func TestUserCommandKeepsResourcesJSON(t *testing.T) {
	c := testCluster()
	ct0 := &c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0]
	ct0.Command = []string{"user-entry"}
	ct0.Resources.Limits = limits("google.com/tpu", "4")
	_, runtime := runShellCommand(t, WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.Containers[0])
	if !slices.Contains(runtime, `--resources={"TPU":4}`) {
		t.Errorf("runtime argv = %q, want --resources={\"TPU\":4} intact", runtime)
	}
}

// TestUserArgsAreShellCode keeps KubeRay's contract: a template's args are a
// shell snippet that runs before the runtime.
func TestUserArgsAreShellCode(t *testing.T) {
	c := testCluster()
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Args = []string{"true; user-entry a 'b c'"}
	user, _ := runShellCommand(t, HeadPod(c, PodOptions{}).Spec.Containers[0])
	if !slices.Equal(user, []string{"a", "b c"}) {
		t.Errorf("user argv = %q, want [a \"b c\"]", user)
	}
}

func TestDefaultPorts(t *testing.T) {
	t.Run("head defaults", func(t *testing.T) {
		c := testCluster()
		ports := HeadPod(c, PodOptions{}).Spec.Containers[0].Ports
		want := map[string]int32{"gcs-server": 6379, "dashboard": 8265, "client": 10001, "metrics": 8080, "serve": 8000}
		if len(ports) != len(want) {
			t.Errorf("ports = %v", ports)
		}
		for name, num := range want {
			p, ok := findPort(ports, name)
			if !ok || p.ContainerPort != num || p.Protocol != corev1.ProtocolTCP {
				t.Errorf("port %s = %+v, want %d/TCP", name, p, num)
			}
		}
	})
	t.Run("user ports kept", func(t *testing.T) {
		c := testCluster()
		c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{
			{Name: "dashboard", ContainerPort: 9999},
			{Name: "custom", ContainerPort: 8000}, // takes the serve number
		}
		ports := HeadPod(c, PodOptions{}).Spec.Containers[0].Ports
		if p, _ := findPort(ports, "dashboard"); p.ContainerPort != 9999 {
			t.Errorf("dashboard = %d, want the user's 9999", p.ContainerPort)
		}
		if _, ok := findPort(ports, "serve"); ok {
			t.Errorf("serve added although 8000 is taken: %v", ports)
		}
		if n := len(ports); n != 5 { // 2 user + gcs, client, metrics
			t.Errorf("ports = %v, want 5", ports)
		}
	})
	t.Run("worker metrics only", func(t *testing.T) {
		c := testCluster()
		ports := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.Containers[0].Ports
		if len(ports) != 1 || ports[0].Name != "metrics" || ports[0].ContainerPort != 8080 {
			t.Errorf("worker ports = %v", ports)
		}
	})
	t.Run("gcs port follows rayStartParams.port", func(t *testing.T) {
		c := testCluster()
		c.Spec.HeadGroupSpec.RayStartParams["port"] = "6380"
		p, _ := findPort(HeadPod(c, PodOptions{}).Spec.Containers[0].Ports, "gcs-server")
		if p.ContainerPort != 6380 {
			t.Errorf("gcs-server = %d, want 6380", p.ContainerPort)
		}
	})
}

func TestProbes(t *testing.T) {
	tests := []struct {
		name               string
		worker             bool
		userReadiness      bool
		readyPath          string
		readyPort, timeout int32
	}{
		{name: "head", readyPath: "/api/gcs_healthz", readyPort: 8265, timeout: 5},
		{name: "worker", worker: true, readyPath: "/api/local_raylet_healthz", readyPort: 52365, timeout: 2},
		{name: "user readiness kept", userReadiness: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			user := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			if tt.userReadiness {
				c.Spec.HeadGroupSpec.Template.Spec.Containers[0].ReadinessProbe = user
			}
			pod := HeadPod(c, PodOptions{})
			if tt.worker {
				pod = WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
			}
			ct := pod.Spec.Containers[0]
			if tt.userReadiness {
				if !reflect.DeepEqual(ct.ReadinessProbe, user) {
					t.Errorf("readiness = %+v, want the user's", ct.ReadinessProbe)
				}
			} else {
				r := ct.ReadinessProbe
				if r == nil || r.HTTPGet == nil || r.HTTPGet.Path != tt.readyPath || r.HTTPGet.Port != intstr.FromInt32(tt.readyPort) {
					t.Fatalf("readiness = %+v, want GET %s:%d", r, tt.readyPath, tt.readyPort)
				}
				if r.TimeoutSeconds != tt.timeout || r.FailureThreshold != 10 {
					t.Errorf("readiness timeout/failure = %d/%d", r.TimeoutSeconds, r.FailureThreshold)
				}
			}
			l := ct.LivenessProbe
			if l == nil || l.HTTPGet == nil || l.HTTPGet.Path != "/api/local_raylet_healthz" || l.HTTPGet.Port != intstr.FromInt32(52365) {
				t.Fatalf("liveness = %+v", l)
			}
			if l.FailureThreshold != 120 || l.PeriodSeconds != 5 {
				t.Errorf("liveness failure/period = %d/%d, want 120/5", l.FailureThreshold, l.PeriodSeconds)
			}
		})
	}
}

func TestMultiHostWorker(t *testing.T) {
	c := testCluster()
	g := &c.Spec.WorkerGroupSpecs[0]
	single := WorkerPod(c, g, PodOptions{ReplicaName: "r", ReplicaIndex: 1, HostIndex: 2})
	for _, k := range []string{WorkerReplicaNameLabel, WorkerReplicaIndexLabel, ReplicaHostIndexLabel, HeadlessWorkerSvcLabel} {
		if _, ok := single.Labels[k]; ok {
			t.Errorf("single-host pod has %s", k)
		}
	}
	if single.Spec.Subdomain != "" {
		t.Errorf("single-host subdomain = %q", single.Spec.Subdomain)
	}

	g.NumOfHosts = 4
	pod := WorkerPod(c, g, PodOptions{ReplicaName: "demo-small-abc", ReplicaIndex: 1, HostIndex: 3})
	want := map[string]string{
		WorkerReplicaNameLabel:  "demo-small-abc",
		WorkerReplicaIndexLabel: "1",
		ReplicaHostIndexLabel:   "3",
		HeadlessWorkerSvcLabel:  "demo-headless",
	}
	for k, v := range want {
		if pod.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, pod.Labels[k], v)
		}
	}
	if pod.Spec.Subdomain != "demo-headless" {
		t.Errorf("subdomain = %q, want demo-headless", pod.Spec.Subdomain)
	}
	for k, v := range HeadlessService(c).Spec.Selector {
		if pod.Labels[k] != v {
			t.Errorf("pod not selected by the headless Service at %s", k)
		}
	}
	g.Template.Spec.Subdomain = "mine"
	if got := WorkerPod(c, g, PodOptions{}).Spec.Subdomain; got != "mine" {
		t.Errorf("user subdomain replaced by %q", got)
	}
}

func TestRecreateHashAnnotation(t *testing.T) {
	c := testCluster()
	c.Spec.HeadGroupSpec.Template.Annotations = map[string]string{"a": "b"}
	for _, tt := range []struct {
		name string
		hash string
	}{{"none", ""}, {"set", "abc123"}} {
		t.Run(tt.name, func(t *testing.T) {
			head := HeadPod(c, PodOptions{RecreateHash: tt.hash})
			worker := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{RecreateHash: tt.hash})
			for _, p := range []*corev1.Pod{head, worker} {
				got, ok := p.Annotations[rayv1.UpgradeStrategyRecreateHashKey]
				if ok != (tt.hash != "") || got != tt.hash {
					t.Errorf("%s: hash annotation = %q (present %v), want %q", p.GenerateName, got, ok, tt.hash)
				}
			}
			if head.Annotations["a"] != "b" {
				t.Errorf("template annotation lost: %v", head.Annotations)
			}
		})
	}
	if _, ok := c.Spec.HeadGroupSpec.Template.Annotations[rayv1.UpgradeStrategyRecreateHashKey]; ok {
		t.Error("builder wrote the hash into the template")
	}
}

func TestPodRestartPolicy(t *testing.T) {
	c := testCluster()
	if got := HeadPod(c, PodOptions{}).Spec.RestartPolicy; got != corev1.RestartPolicyAlways {
		t.Errorf("default restartPolicy = %q, want Always", got)
	}
	c.Spec.WorkerGroupSpecs[0].Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	if got := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.RestartPolicy; got != corev1.RestartPolicyOnFailure {
		t.Errorf("user restartPolicy replaced by %q", got)
	}
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	v2 := rayv1.AutoscalerVersion("v2")
	c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{Version: &v2}
	if got := HeadPod(c, PodOptions{}).Spec.RestartPolicy; got != corev1.RestartPolicyNever {
		t.Errorf("autoscaler v2 head restartPolicy = %q, want Never", got)
	}
	if got := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.RestartPolicy; got != corev1.RestartPolicyNever {
		t.Errorf("autoscaler v2 worker restartPolicy = %q, want Never", got)
	}
}

func TestPodWithoutContainers(t *testing.T) {
	c := testCluster()
	c.Spec.HeadGroupSpec.Template.Spec.Containers = nil
	pod := HeadPod(c, PodOptions{})
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Command[0] != "goray" {
		t.Errorf("containers = %+v, want one ray container running goray", pod.Spec.Containers)
	}
}
