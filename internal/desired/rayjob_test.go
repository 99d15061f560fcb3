package desired

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

const (
	rjDashboard = "train-abcde-head-svc.ns1.svc.cluster.local:8265"
	rjJobID     = "train-xyz12"
)

// testRayJob is a K8sJobMode RayJob "train" in ns1 whose cluster spec is
// testCluster's (head image goray:1), with its submission id in the status.
func testRayJob() *rayv1.RayJob {
	return &rayv1.RayJob{
		TypeMeta: metav1.TypeMeta{APIVersion: "ray.io/v1", Kind: "RayJob"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        "train",
			Namespace:   "ns1",
			UID:         "job-uid-1",
			Labels:      map[string]string{"team": "ml"},
			Annotations: map[string]string{"note": "keep"},
		},
		Spec: rayv1.RayJobSpec{
			Entrypoint:     "python train.py --epochs 3",
			SubmissionMode: rayv1.K8sJobMode,
			RayClusterSpec: ptr.To(testCluster().Spec),
		},
		Status: rayv1.RayJobStatus{JobId: rjJobID},
	}
}

func checkRayJobOwner(t *testing.T, refs []metav1.OwnerReference, job *rayv1.RayJob) {
	t.Helper()
	if len(refs) != 1 {
		t.Fatalf("owner references = %+v, want one", refs)
	}
	r := refs[0]
	if r.APIVersion != "ray.io/v1" || r.Kind != "RayJob" || r.Name != job.Name || r.UID != job.UID {
		t.Errorf("owner = %+v, want RayJob ray.io/v1 %s %s", r, job.Name, job.UID)
	}
	if !ptr.Deref(r.Controller, false) || !ptr.Deref(r.BlockOwnerDeletion, false) {
		t.Errorf("owner controller=%v blockOwnerDeletion=%v, want both true", r.Controller, r.BlockOwnerDeletion)
	}
}

func checkLabels(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s label %s = %q, want %q", what, k, got[k], v)
		}
	}
}

func TestRayJobClusterName(t *testing.T) {
	if got := RayJobClusterName(testRayJob(), "abcde"); got != "train-abcde" {
		t.Errorf("got %q, want train-abcde", got)
	}
}

func TestRayJobCluster(t *testing.T) {
	job := testRayJob()
	before := job.DeepCopy()
	c := RayJobCluster(job, "train-abcde", "127.0.0.1:8265")

	if c.Name != "train-abcde" || c.Namespace != "ns1" {
		t.Errorf("cluster = %s/%s, want ns1/train-abcde", c.Namespace, c.Name)
	}
	checkLabels(t, "cluster", c.Labels, map[string]string{
		"team":                           "ml",
		rayv1.RayOriginatedFromCRNameKey: "train",
		rayv1.RayOriginatedFromCRDKey:    "RayJob",
	})
	if c.Annotations["note"] != "keep" {
		t.Errorf("annotations = %v, want the RayJob's", c.Annotations)
	}
	if _, ok := c.Annotations[rayv1.DisableProvisionedHeadRestartKey]; ok {
		t.Errorf("K8sJobMode cluster has %s", rayv1.DisableProvisionedHeadRestartKey)
	}
	checkRayJobOwner(t, c.OwnerReferences, job)
	if !reflect.DeepEqual(c.Spec, *job.Spec.RayClusterSpec) {
		t.Errorf("spec differs from the RayJob's rayClusterSpec:\n got %+v\nwant %+v", c.Spec, *job.Spec.RayClusterSpec)
	}
	if !reflect.DeepEqual(job, before) {
		t.Fatalf("RayJobCluster changed the RayJob")
	}

	// The cluster shares no maps or slices with the RayJob.
	c.Labels["extra"] = "x"
	c.Annotations["extra"] = "x"
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Image = "changed"
	c.Spec.HeadGroupSpec.RayStartParams["num-cpus"] = "9"
	c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](7)
	if !reflect.DeepEqual(job, before) {
		t.Errorf("changing the cluster changed the RayJob: labels %v annotations %v head %s",
			job.Labels, job.Annotations, job.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers[0].Image)
	}
}

func TestRayJobClusterLabelsWin(t *testing.T) {
	job := testRayJob()
	job.Labels = map[string]string{rayv1.RayOriginatedFromCRDKey: "RayService", rayv1.RayOriginatedFromCRNameKey: "other"}
	job.Annotations = nil
	c := RayJobCluster(job, "train-abcde", "127.0.0.1:8265")
	checkLabels(t, "cluster", c.Labels, map[string]string{
		rayv1.RayOriginatedFromCRNameKey: "train",
		rayv1.RayOriginatedFromCRDKey:    "RayJob",
	})
	if job.Labels[rayv1.RayOriginatedFromCRDKey] != "RayService" {
		t.Errorf("the RayJob's labels were overwritten: %v", job.Labels)
	}
}

func TestRayJobClusterSidecar(t *testing.T) {
	const addr = "127.0.0.1:8265"
	job := testRayJob()
	job.Spec.SubmissionMode = rayv1.SidecarMode
	job.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
	before := job.DeepCopy()
	c := RayJobCluster(job, "train-abcde", addr)

	head := c.Spec.HeadGroupSpec.Template.Spec
	if len(head.Containers) != 2 || head.Containers[0].Name != "ray-head" {
		t.Fatalf("head containers = %v, want ray-head then the submitter", head.Containers)
	}
	sub := head.Containers[1]
	if sub.Name != SubmitterContainerName || SubmitterContainerName != "ray-job-submitter" {
		t.Errorf("submitter container name = %q", sub.Name)
	}
	if sub.Image != "goray:1" {
		t.Errorf("submitter image = %q, want the head's goray:1", sub.Image)
	}
	if want := SubmitterArgs(job, rjJobID, addr); !slices.Equal(sub.Command, want) {
		t.Errorf("submitter command = %q, want %q", sub.Command, want)
	}
	if e := mustEnv(t, sub.Env, "RAY_DASHBOARD_ADDRESS"); e.Value != addr {
		t.Errorf("RAY_DASHBOARD_ADDRESS = %q, want %q", e.Value, addr)
	}
	if e := mustEnv(t, sub.Env, "RAY_JOB_SUBMISSION_ID"); e.Value != rjJobID {
		t.Errorf("RAY_JOB_SUBMISSION_ID = %q, want %q", e.Value, rjJobID)
	}
	if head.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("head restartPolicy = %q, want Never", head.RestartPolicy)
	}
	if got := c.Annotations[rayv1.DisableProvisionedHeadRestartKey]; got != "true" {
		t.Errorf("annotation %s = %q, want true", rayv1.DisableProvisionedHeadRestartKey, got)
	}
	if c.Annotations["note"] != "keep" {
		t.Errorf("annotations = %v, want the RayJob's too", c.Annotations)
	}
	if len(c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers) != 1 {
		t.Errorf("worker got the submitter too: %v", c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers)
	}
	if !reflect.DeepEqual(job, before) {
		t.Errorf("RayJobCluster changed the RayJob: head containers %d, restartPolicy %q, annotations %v",
			len(job.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.Containers),
			job.Spec.RayClusterSpec.HeadGroupSpec.Template.Spec.RestartPolicy, job.Annotations)
	}

	// Without annotations on the RayJob, and with the id only in the spec.
	job = testRayJob()
	job.Spec.SubmissionMode = rayv1.SidecarMode
	job.Annotations = nil
	job.Status.JobId = ""
	job.Spec.JobId = "fixed-id"
	c = RayJobCluster(job, "train-abcde", addr)
	if got := c.Annotations[rayv1.DisableProvisionedHeadRestartKey]; got != "true" {
		t.Errorf("annotation %s = %q, want true", rayv1.DisableProvisionedHeadRestartKey, got)
	}
	if job.Annotations != nil {
		t.Errorf("RayJob annotations became %v", job.Annotations)
	}
	sub = c.Spec.HeadGroupSpec.Template.Spec.Containers[1]
	if e := mustEnv(t, sub.Env, "RAY_JOB_SUBMISSION_ID"); e.Value != "fixed-id" {
		t.Errorf("RAY_JOB_SUBMISSION_ID = %q, want the spec's fixed-id", e.Value)
	}
	if !slices.Contains(sub.Command, "--submission-id=fixed-id") {
		t.Errorf("command %q lacks --submission-id=fixed-id", sub.Command)
	}
}

func TestRayJobClusterOtherModes(t *testing.T) {
	for _, mode := range []rayv1.JobSubmissionMode{"", rayv1.K8sJobMode, rayv1.HTTPMode, rayv1.InteractiveMode} {
		job := testRayJob()
		job.Spec.SubmissionMode = mode
		c := RayJobCluster(job, "train-abcde", "127.0.0.1:8265")
		if n := len(c.Spec.HeadGroupSpec.Template.Spec.Containers); n != 1 {
			t.Errorf("mode %q: head has %d containers, want 1", mode, n)
		}
		if rp := c.Spec.HeadGroupSpec.Template.Spec.RestartPolicy; rp != "" {
			t.Errorf("mode %q: head restartPolicy = %q, want unset", mode, rp)
		}
	}
}

func TestSubmitterArgs(t *testing.T) {
	prefix := []string{RuntimeBinary, "job", "submit", "--address=http://" + rjDashboard, "--submission-id=" + rjJobID}

	t.Run("minimal", func(t *testing.T) {
		job := testRayJob()
		got := SubmitterArgs(job, rjJobID, rjDashboard)
		want := append(slices.Clone(prefix), "--if-absent", "--", "python train.py --epochs 3")
		if !slices.Equal(got, want) {
			t.Errorf("got  %q\nwant %q", got, want)
		}
	})

	t.Run("every option", func(t *testing.T) {
		job := testRayJob()
		job.Spec.RuntimeEnvYAML = "pip:\n  - requests\nenv_vars:\n  A: b\n"
		job.Spec.Metadata = map[string]string{"owner": "ann", "run": "7", "quote": `say "hi"`}
		job.Spec.EntrypointNumCpus = 0.5
		job.Spec.EntrypointNumGpus = 2
		job.Spec.EntrypointResources = `{"TPU": 4}`
		job.Spec.Entrypoint = "--looks-like-a-flag"
		got := SubmitterArgs(job, rjJobID, rjDashboard)

		if !slices.Equal(got[:len(prefix)], prefix) {
			t.Errorf("starts with %q, want %q", got[:len(prefix)], prefix)
		}
		if n := len(got); n < 2 || got[n-2] != "--" || got[n-1] != "--looks-like-a-flag" {
			t.Fatalf("does not end with -- <entrypoint>: %q", got)
		}
		flags := got[:len(got)-2]
		if slices.Contains(flags, "--") {
			t.Errorf("-- appears before the end: %q", got)
		}
		for _, want := range []string{
			"--if-absent",
			"--runtime-env-yaml=" + job.Spec.RuntimeEnvYAML,
			"--entrypoint-num-cpus=0.5",
			"--entrypoint-num-gpus=2",
			`--entrypoint-resources={"TPU": 4}`,
		} {
			if n := countOf(flags, want); n != 1 {
				t.Errorf("flag %q appears %d times in %q", want, n, flags)
			}
		}
		meta := withPrefix(flags, "--metadata-json=")
		if len(meta) != 1 {
			t.Fatalf("--metadata-json appears %d times in %q", len(meta), flags)
		}
		var m map[string]string
		if err := json.Unmarshal([]byte(strings.TrimPrefix(meta[0], "--metadata-json=")), &m); err != nil {
			t.Fatalf("metadata is not JSON: %v (%s)", err, meta[0])
		}
		if !reflect.DeepEqual(m, job.Spec.Metadata) {
			t.Errorf("metadata = %v, want %v", m, job.Spec.Metadata)
		}
	})

	t.Run("only what is set", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			set     func(*rayv1.RayJobSpec)
			want    string
			without []string
		}{
			{"cpus", func(s *rayv1.RayJobSpec) { s.EntrypointNumCpus = 1.25 }, "--entrypoint-num-cpus=1.25",
				[]string{"--entrypoint-num-gpus", "--entrypoint-resources", "--runtime-env-yaml", "--metadata-json"}},
			{"gpus", func(s *rayv1.RayJobSpec) { s.EntrypointNumGpus = 1 }, "--entrypoint-num-gpus=1",
				[]string{"--entrypoint-num-cpus", "--entrypoint-resources", "--runtime-env-yaml", "--metadata-json"}},
			{"resources", func(s *rayv1.RayJobSpec) { s.EntrypointResources = `{"custom": 1}` }, `--entrypoint-resources={"custom": 1}`,
				[]string{"--entrypoint-num-cpus", "--entrypoint-num-gpus", "--runtime-env-yaml", "--metadata-json"}},
			{"runtime env", func(s *rayv1.RayJobSpec) { s.RuntimeEnvYAML = "pip: [x]" }, "--runtime-env-yaml=pip: [x]",
				[]string{"--entrypoint-num-cpus", "--entrypoint-num-gpus", "--entrypoint-resources", "--metadata-json"}},
			{"metadata", func(s *rayv1.RayJobSpec) { s.Metadata = map[string]string{"k": "v"} }, `--metadata-json={"k":"v"}`,
				[]string{"--entrypoint-num-cpus", "--entrypoint-num-gpus", "--entrypoint-resources", "--runtime-env-yaml"}},
			{"empty metadata map", func(s *rayv1.RayJobSpec) { s.Metadata = map[string]string{} }, "--if-absent",
				[]string{"--metadata-json"}},
		} {
			t.Run(c.name, func(t *testing.T) {
				job := testRayJob()
				c.set(&job.Spec)
				got := SubmitterArgs(job, rjJobID, rjDashboard)
				flags := got[:len(got)-2]
				if !slices.Contains(flags, c.want) {
					t.Errorf("%q lacks %q", got, c.want)
				}
				for _, f := range c.without {
					if len(withPrefix(flags, f)) > 0 {
						t.Errorf("%q has %s, which is not set", got, f)
					}
				}
			})
		}
	})
}

// TestSubmitterArgsAcceptedByCLI runs the submit command against the real
// goray CLI: every flag SubmitterArgs emits must be one `goray job submit`
// knows, or the submitter fails before reaching the dashboard.
func TestSubmitterArgsAcceptedByCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the goray binary")
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	bin := filepath.Join(t.TempDir(), "goray")
	build := exec.Command("go", "build", "-o", bin, "./cmd/goray")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building goray: %v\n%s", err, out)
	}
	job := testRayJob()
	job.Spec.RuntimeEnvYAML = "env_vars:\n  A: b\n"
	job.Spec.Metadata = map[string]string{"k": "v"}
	job.Spec.EntrypointNumCpus = 1
	job.Spec.EntrypointNumGpus = 1
	job.Spec.EntrypointResources = `{"TPU": 1}`
	args := SubmitterArgs(job, rjJobID, "127.0.0.1:1") // nothing listens there
	out, err := exec.Command(bin, args[1:]...).CombinedOutput()
	if err == nil {
		t.Fatalf("submit against a closed port succeeded: %s", out)
	}
	if strings.Contains(string(out), "unknown flag") || strings.Contains(string(out), "must be") {
		t.Errorf("goray rejected the submitter's arguments %q:\n%s", args, out)
	}
	if !strings.Contains(string(out), "connection refused") {
		t.Errorf("want the submit to get as far as the dashboard; output:\n%s", out)
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func withPrefix(s []string, p string) []string {
	var out []string
	for _, x := range s {
		if strings.HasPrefix(x, p) {
			out = append(out, x)
		}
	}
	return out
}

func TestSubmitterJob(t *testing.T) {
	wantLabels := map[string]string{
		rayv1.KubernetesCreatedByLabelKey:  "goray-operator",
		rayv1.KubernetesApplicationNameKey: "kuberay",
		rayv1.RayOriginatedFromCRNameKey:   "train",
		rayv1.RayOriginatedFromCRDKey:      "RayJob",
	}

	t.Run("default", func(t *testing.T) {
		job := testRayJob()
		cluster := RayJobCluster(job, "train-abcde", "127.0.0.1:8265")
		before := job.DeepCopy()
		j := SubmitterJob(job, cluster, rjDashboard)
		if !reflect.DeepEqual(job, before) {
			t.Errorf("SubmitterJob changed the RayJob")
		}
		if j.Name != "train" || j.Namespace != "ns1" {
			t.Errorf("job = %s/%s, want ns1/train", j.Namespace, j.Name)
		}
		checkLabels(t, "job", j.Labels, wantLabels)
		checkLabels(t, "pod template", j.Spec.Template.Labels, wantLabels)
		checkRayJobOwner(t, j.OwnerReferences, job)
		if got := ptr.Deref(j.Spec.BackoffLimit, -1); got != 2 {
			t.Errorf("backoffLimit = %d, want 2", got)
		}
		pod := j.Spec.Template.Spec
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("restartPolicy = %q, want Never", pod.RestartPolicy)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("containers = %v, want the submitter alone", pod.Containers)
		}
		ct := pod.Containers[0]
		if ct.Name != SubmitterContainerName || ct.Image != "goray:1" {
			t.Errorf("container = %s %s, want %s with the head's image goray:1", ct.Name, ct.Image, SubmitterContainerName)
		}
		if want := SubmitterArgs(job, rjJobID, rjDashboard); !slices.Equal(ct.Command, want) {
			t.Errorf("command = %q, want %q", ct.Command, want)
		}
		if e := mustEnv(t, ct.Env, "RAY_DASHBOARD_ADDRESS"); e.Value != rjDashboard {
			t.Errorf("RAY_DASHBOARD_ADDRESS = %q, want %q", e.Value, rjDashboard)
		}
		if e := mustEnv(t, ct.Env, "RAY_JOB_SUBMISSION_ID"); e.Value != rjJobID {
			t.Errorf("RAY_JOB_SUBMISSION_ID = %q, want %q", e.Value, rjJobID)
		}
		if ct.Resources.Requests.Cpu().IsZero() || ct.Resources.Limits.Memory().IsZero() {
			t.Errorf("default submitter has no resources: %+v", ct.Resources)
		}
	})

	t.Run("submitterConfig.backoffLimit", func(t *testing.T) {
		for _, c := range []struct {
			cfg  *rayv1.SubmitterConfig
			want int32
		}{
			{nil, 2},
			{&rayv1.SubmitterConfig{}, 2},
			{&rayv1.SubmitterConfig{BackoffLimit: ptr.To[int32](0)}, 0},
			{&rayv1.SubmitterConfig{BackoffLimit: ptr.To[int32](5)}, 5},
		} {
			job := testRayJob()
			job.Spec.SubmitterConfig = c.cfg
			j := SubmitterJob(job, RayJobCluster(job, "train-abcde", ""), rjDashboard)
			if got := ptr.Deref(j.Spec.BackoffLimit, -1); got != c.want {
				t.Errorf("submitterConfig %+v: backoffLimit = %d, want %d", c.cfg, got, c.want)
			}
		}
	})

	t.Run("template with its own command", func(t *testing.T) {
		job := testRayJob()
		job.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"x": "y", rayv1.RayOriginatedFromCRDKey: "spoofed"}},
			Spec: corev1.PodSpec{
				ServiceAccountName: "submitter-sa",
				Containers: []corev1.Container{{
					Name:    "mine",
					Image:   "custom:2",
					Command: []string{"my-submit", "--now"},
					Env:     []corev1.EnvVar{{Name: "RAY_DASHBOARD_ADDRESS", Value: "override:1"}, {Name: "EXTRA", Value: "1"}},
				}},
			},
		}
		before := job.DeepCopy()
		j := SubmitterJob(job, RayJobCluster(job, "train-abcde", ""), rjDashboard)
		if !reflect.DeepEqual(job, before) {
			t.Errorf("SubmitterJob changed the RayJob's submitterPodTemplate")
		}
		pod := j.Spec.Template.Spec
		if pod.ServiceAccountName != "submitter-sa" {
			t.Errorf("serviceAccountName = %q, want the template's", pod.ServiceAccountName)
		}
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("restartPolicy = %q, want Never", pod.RestartPolicy)
		}
		if len(pod.Containers) != 1 {
			t.Fatalf("containers = %v, want the template's one", pod.Containers)
		}
		ct := pod.Containers[0]
		if ct.Name != "mine" || ct.Image != "custom:2" {
			t.Errorf("container = %s %s, want the template's mine custom:2", ct.Name, ct.Image)
		}
		if !slices.Equal(ct.Command, []string{"my-submit", "--now"}) {
			t.Errorf("command = %q, want the template's", ct.Command)
		}
		if e := mustEnv(t, ct.Env, "RAY_DASHBOARD_ADDRESS"); e.Value != "override:1" {
			t.Errorf("RAY_DASHBOARD_ADDRESS = %q, want the template's override:1", e.Value)
		}
		if e := mustEnv(t, ct.Env, "RAY_JOB_SUBMISSION_ID"); e.Value != rjJobID {
			t.Errorf("RAY_JOB_SUBMISSION_ID = %q, want %q", e.Value, rjJobID)
		}
		mustEnv(t, ct.Env, "EXTRA")
		checkLabels(t, "pod template", j.Spec.Template.Labels, wantLabels)
		if j.Spec.Template.Labels["x"] != "y" {
			t.Errorf("pod template labels = %v, want the template's x=y kept", j.Spec.Template.Labels)
		}
	})

	t.Run("template without a command", func(t *testing.T) {
		job := testRayJob()
		job.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyAlways,
			Containers:    []corev1.Container{{Name: "mine"}, {Name: "helper", Image: "busybox"}},
		}}
		j := SubmitterJob(job, RayJobCluster(job, "train-abcde", ""), rjDashboard)
		pod := j.Spec.Template.Spec
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("restartPolicy = %q, want Never", pod.RestartPolicy)
		}
		if len(pod.Containers) != 2 {
			t.Fatalf("containers = %v, want the template's two", pod.Containers)
		}
		ct := pod.Containers[0]
		if want := SubmitterArgs(job, rjJobID, rjDashboard); !slices.Equal(ct.Command, want) {
			t.Errorf("command = %q, want %q", ct.Command, want)
		}
		if ct.Image != "goray:1" {
			t.Errorf("image = %q, want the head's goray:1", ct.Image)
		}
		if e := mustEnv(t, ct.Env, "RAY_DASHBOARD_ADDRESS"); e.Value != rjDashboard {
			t.Errorf("RAY_DASHBOARD_ADDRESS = %q, want %q", e.Value, rjDashboard)
		}
		mustEnv(t, ct.Env, "RAY_JOB_SUBMISSION_ID")
		if h := pod.Containers[1]; len(h.Command) != 0 || len(h.Env) != 0 {
			t.Errorf("second container was changed: %+v", h)
		}
	})

	t.Run("template without containers", func(t *testing.T) {
		job := testRayJob()
		job.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{NodeSelector: map[string]string{"pool": "cpu"}}}
		j := SubmitterJob(job, RayJobCluster(job, "train-abcde", ""), rjDashboard)
		pod := j.Spec.Template.Spec
		if pod.NodeSelector["pool"] != "cpu" {
			t.Errorf("nodeSelector = %v, want the template's", pod.NodeSelector)
		}
		if len(pod.Containers) != 1 || pod.Containers[0].Name != SubmitterContainerName {
			t.Fatalf("containers = %v, want the submitter", pod.Containers)
		}
		if want := SubmitterArgs(job, rjJobID, rjDashboard); !slices.Equal(pod.Containers[0].Command, want) {
			t.Errorf("command = %q, want %q", pod.Containers[0].Command, want)
		}
	})
}
