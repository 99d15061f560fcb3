package rayjob_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// runSubmitter runs a submitter container's command as its pod would, with
// the goray built for the tests, the test head's dashboard address (the
// auth head for the auth-* RayJobs) and the container's environment as the
// kubelet resolves it (values and Secret references).
func runSubmitter(ctx context.Context, ns, rayJob string, c corev1.Container) (int32, string) {
	dashboard := headAddr
	if strings.HasPrefix(rayJob, "auth-") {
		dashboard = authHeadAddr
	}
	var env []string
	vars := map[string]string{}
	for _, e := range c.Env {
		v := e.Value
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			s := &corev1.Secret{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: e.ValueFrom.SecretKeyRef.Name}, s); err != nil {
				return 127, fmt.Sprintf("env %s: %v (the kubelet would not start the container)", e.Name, err)
			}
			v = string(s.Data[e.ValueFrom.SecretKeyRef.Key])
		}
		if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef != nil {
			env = append(env, e.Name+"="+v)
			vars[e.Name] = v
		}
	}
	args := append([]string(nil), c.Command...)
	args = append(args, c.Args...)
	for i, a := range args {
		// The kubelet expands $(NAME) from the container's environment.
		for name, v := range vars {
			a = strings.ReplaceAll(a, "$("+name+")", v)
		}
		args[i] = a
		if strings.HasPrefix(a, "--address=") {
			args[i] = "--address=http://" + dashboard // the sidecar's localhost is the test head
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "goray"), args[1:]...)
	cmd.Env = append(append(os.Environ(), "PATH="+binDir+":"+os.Getenv("PATH")), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return int32(exit.ExitCode()), string(out)
	}
	if err != nil {
		return 127, err.Error()
	}
	return 0, string(out)
}

// playJobController runs each submitter Job once and records its outcome,
// as the Job controller and a kubelet would.
func playJobController(ctx context.Context, t *testing.T, ns string, outputs *sync.Map) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		list := &batchv1.JobList{}
		if err := k8s.List(ctx, list, client.InNamespace(ns)); err == nil {
			for i := range list.Items {
				j := &list.Items[i]
				if seen[j.Name] || j.Status.StartTime != nil { // one of an earlier test's
					continue
				}
				seen[j.Name] = true
				code, out := runSubmitter(ctx, ns, j.Name, j.Spec.Template.Spec.Containers[0])
				outputs.Store(j.Name, out)
				now := metav1.Now()
				j.Status.StartTime = &now
				if code == 0 {
					j.Status.Succeeded, j.Status.CompletionTime = 1, &now
					j.Status.Conditions = []batchv1.JobCondition{
						{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now},
						{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now}}
				} else {
					j.Status.Failed = 1
					j.Status.Conditions = []batchv1.JobCondition{
						{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, LastTransitionTime: now},
						{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, LastTransitionTime: now}}
				}
				if err := k8s.Status().Update(ctx, j); err != nil {
					t.Errorf("recording the submitter's outcome: %v", err)
				}
			}
		}
		sleep(ctx)
	}
}

// playSidecar runs the ray-job-submitter container of head pods once and
// records its termination in the pod status.
func playSidecar(ctx context.Context, t *testing.T, ns string) {
	seen := map[string]bool{}
	for ctx.Err() == nil {
		list := &corev1.PodList{}
		if err := k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"}); err == nil {
			for i := range list.Items {
				p := &list.Items[i]
				if seen[p.Name] || p.Status.Phase != corev1.PodRunning {
					continue
				}
				for _, c := range p.Spec.Containers {
					if c.Name != desired.SubmitterContainerName {
						continue
					}
					seen[p.Name] = true
					code, _ := runSubmitter(ctx, ns, p.Labels[rayv1.RayOriginatedFromCRNameKey], c)
					p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
						Name: c.Name, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, FinishedAt: metav1.Now()}}})
					if err := k8s.Status().Update(ctx, p); err != nil {
						t.Errorf("recording the sidecar's outcome: %v", err)
					}
				}
			}
		}
		sleep(ctx)
	}
}

func TestK8sJobModeSucceedsAndFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outputs sync.Map
	go playJobController(ctx, t, "modes", &outputs)
	for _, tc := range []struct {
		name, entrypoint string
		want             rayv1.JobDeploymentStatus
		wantReason       rayv1.JobFailedReason
	}{
		{"k8s-ok", "echo submitted by a Job", rayv1.JobDeploymentStatusComplete, ""},
		{"k8s-fail", "exit 4", rayv1.JobDeploymentStatusFailed, rayv1.AppFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob("modes", tc.name, tc.entrypoint, rayv1.K8sJobMode)
			job.Spec.RuntimeEnvYAML = "env_vars:\n  GREETING: hi\n"
			if err := k8s.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
			j := waitForDeployment(t, ctx, "modes", tc.name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
			out, _ := outputs.Load(tc.name)
			if j.Status.JobDeploymentStatus != tc.want || j.Status.Reason != tc.wantReason {
				t.Fatalf("ended %s/%s (%s), want %s/%s; submitter output:\n%v", j.Status.JobDeploymentStatus, j.Status.Reason, j.Status.Message, tc.want, tc.wantReason, out)
			}
			if tc.want == rayv1.JobDeploymentStatusComplete && !strings.Contains(out.(string), "submitted by a Job") {
				t.Errorf("the submitter did not follow the job's logs:\n%s", out)
			}
		})
	}
}

func TestSidecarModeSucceedsAndFails(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go playSidecar(ctx, t, "modes")
	for _, tc := range []struct {
		name, entrypoint string
		want             rayv1.JobDeploymentStatus
		wantStatus       rayv1.JobStatus
		wantReason       rayv1.JobFailedReason
	}{
		{"sidecar", "echo from the sidecar", rayv1.JobDeploymentStatusComplete, rayv1.JobStatusSucceeded, ""},
		{"sidecar-fail", "exit 5", rayv1.JobDeploymentStatusFailed, rayv1.JobStatusFailed, rayv1.AppFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := k8s.Create(ctx, newJob("modes", tc.name, tc.entrypoint, rayv1.SidecarMode)); err != nil {
				t.Fatal(err)
			}
			j := waitForDeployment(t, ctx, "modes", tc.name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
			st := j.Status
			if st.JobDeploymentStatus != tc.want || st.JobStatus != tc.wantStatus || st.Reason != tc.wantReason {
				t.Fatalf("ended %s/%s/%s: %s", st.JobDeploymentStatus, st.JobStatus, st.Reason, st.Message)
			}
			cluster := &rayv1.RayCluster{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: "modes", Name: st.RayClusterName}, cluster); err != nil {
				t.Fatal(err)
			}
			if cluster.Spec.HeadGroupSpec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("a sidecar-mode head must not restart (it would submit again)")
			}
		})
	}
}
