package rayjob_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func tokenSecret(name, token string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "auth", Name: name}, StringData: map[string]string{"auth_token": token}}
}

func withSecret(job *rayv1.RayJob, secret string) *rayv1.RayJob {
	job.Spec.RayClusterSpec.AuthOptions = &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To(secret)}
	return job
}

// TestTokenAuthHead: RayJobs whose cluster is a head with token auth on
// (authHeadToken, given to the RayJobs by a Secret of the user's) run to the
// end: the operator's job client sends the token (HTTPMode), and the
// submitter Job gets it from the Secret (K8sJobMode).
func TestTokenAuthHead(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outputs sync.Map
	go playJobController(ctx, t, "auth", &outputs)
	if err := k8s.Create(ctx, tokenSecret("head-token", authHeadToken)); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []rayv1.JobSubmissionMode{rayv1.HTTPMode, rayv1.K8sJobMode} {
		name := "auth-" + strings.ToLower(strings.TrimSuffix(string(mode), "Mode"))
		t.Run(name, func(t *testing.T) {
			if err := k8s.Create(ctx, withSecret(newJob("auth", name, "echo authenticated", mode), "head-token")); err != nil {
				t.Fatal(err)
			}
			j := waitForDeployment(t, ctx, "auth", name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
			out, _ := outputs.Load(name)
			if j.Status.JobDeploymentStatus != rayv1.JobDeploymentStatusComplete || j.Status.JobStatus != rayv1.JobStatusSucceeded {
				t.Fatalf("ended %s/%s (%s); submitter output: %v", j.Status.JobDeploymentStatus, j.Status.JobStatus, j.Status.Message, out)
			}
			if mode != rayv1.K8sJobMode {
				return
			}
			sj := &batchv1.Job{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: "auth", Name: name}, sj); err != nil {
				t.Fatal(err)
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range sj.Spec.Template.Spec.Containers[0].Env {
				env[e.Name] = e
			}
			if ref := env["RAY_AUTH_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "head-token" || env["RAY_AUTH_MODE"].Value != "token" {
				t.Errorf("submitter env %+v, want RAY_AUTH_MODE=token and RAY_AUTH_TOKEN from head-token", env)
			}
		})
	}
}

// TestTokenProblemsAreReported: a missing Secret and a wrong token keep the
// RayJob waiting with a message that says so (and an event), and it goes on
// once the Secret is right — the operator reads the token again after a 401.
func TestTokenProblemsAreReported(t *testing.T) {
	ctx := context.Background()
	const name = "auth-fixed-later"
	if err := k8s.Create(ctx, withSecret(newJob("auth", name, "echo eventually", rayv1.HTTPMode), "later-token")); err != nil {
		t.Fatal(err)
	}
	waitMessage := func(want string) {
		t.Helper()
		eventually(t, "a message with "+want, func() (bool, error) {
			j, err := getJob(ctx, "auth", name)
			if err != nil {
				return false, err
			}
			switch j.Status.JobDeploymentStatus {
			case rayv1.JobDeploymentStatusNew, rayv1.JobDeploymentStatusInitializing:
			default:
				t.Fatalf("the RayJob went on to %s (%s)", j.Status.JobDeploymentStatus, j.Status.Message)
			}
			return strings.Contains(j.Status.Message, want), nil
		})
	}
	waitMessage("the auth Secret auth/later-token does not exist")
	eventually(t, "an AuthTokenUnavailable event", func() (bool, error) {
		return hasEvent(ctx, name, "AuthTokenUnavailable"), nil
	})

	secret := tokenSecret("later-token", "not-the-token")
	if err := k8s.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	waitMessage("401")

	secret.StringData = map[string]string{"auth_token": authHeadToken}
	if err := k8s.Update(ctx, secret); err != nil {
		t.Fatal(err)
	}
	j := waitForDeployment(t, ctx, "auth", name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
	if j.Status.JobStatus != rayv1.JobStatusSucceeded {
		t.Fatalf("ended %s/%s (%s)", j.Status.JobDeploymentStatus, j.Status.JobStatus, j.Status.Message)
	}
}

func hasEvent(ctx context.Context, object, reason string) bool {
	list := &corev1.EventList{}
	if err := k8s.List(ctx, list, client.InNamespace("auth")); err == nil {
		for _, e := range list.Items {
			if e.InvolvedObject.Name == object && e.Reason == reason {
				return true
			}
		}
	}
	return false
}

// TestSubmitterAuthEnv: the submitter Job of a cluster with token auth by
// default gets the generated Secret's token; with auth disabled, none.
func TestSubmitterAuthEnv(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, tc := range []struct {
		name   string
		auth   *rayv1.AuthOptions
		secret bool
	}{
		{"submitter-default", nil, true},
		{"submitter-disabled", &rayv1.AuthOptions{Mode: rayv1.AuthModeDisabled}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := newJob("auth", tc.name, "echo x", rayv1.K8sJobMode)
			job.Spec.RayClusterSpec.AuthOptions = tc.auth
			if err := k8s.Create(ctx, job); err != nil {
				t.Fatal(err)
			}
			sj := &batchv1.Job{}
			eventually(t, "the submitter Job", func() (bool, error) {
				return k8s.Get(ctx, client.ObjectKey{Namespace: "auth", Name: tc.name}, sj) == nil, nil
			})
			j, err := getJob(ctx, "auth", tc.name)
			if err != nil {
				t.Fatal(err)
			}
			var token *corev1.EnvVar
			for _, e := range sj.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "RAY_AUTH_TOKEN" {
					token = &e
				}
			}
			if !tc.secret {
				if token != nil {
					t.Errorf("auth disabled, but the submitter gets %+v", token)
				}
				return
			}
			if token == nil || token.ValueFrom == nil || token.ValueFrom.SecretKeyRef == nil || token.ValueFrom.SecretKeyRef.Name != j.Status.RayClusterName {
				t.Fatalf("RAY_AUTH_TOKEN = %+v, want the generated Secret %s", token, j.Status.RayClusterName)
			}
			s := &corev1.Secret{}
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: "auth", Name: j.Status.RayClusterName}, s); err != nil || len(s.Data["auth_token"]) < 32 {
				t.Errorf("generated Secret %s: %v %d bytes", j.Status.RayClusterName, err, len(s.Data["auth_token"]))
			}
			sc := sj.Spec.Template.Spec.Containers[0].SecurityContext
			if sc == nil || !ptr.Deref(sc.RunAsNonRoot, false) || !ptr.Deref(sc.ReadOnlyRootFilesystem, false) {
				t.Errorf("submitter securityContext %+v, want hardened", sc)
			}
		})
	}
}

// TestLightWeightSubmitter: KubeRay's light-weight submitter — no
// spec.entrypoint, the submitter pod's own command submits the job — is
// admitted, and its pod runs as given with the address, the submission id
// and the token injected. Its cluster is the token head, so the submission
// only succeeds with the injected token.
func TestLightWeightSubmitter(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var outputs sync.Map
	go playJobController(ctx, t, "auth", &outputs)
	if err := k8s.Create(ctx, tokenSecret("light-token", authHeadToken)); err != nil {
		t.Fatal(err)
	}
	const name = "auth-light"
	command := []string{"goray", "job", "submit", "--address=http://$(RAY_DASHBOARD_ADDRESS)"}
	args := []string{"--submission-id=$(RAY_JOB_SUBMISSION_ID)", "--", "echo from the light-weight submitter"}
	job := withSecret(newJob("auth", name, "", rayv1.K8sJobMode), "light-token")
	job.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		RestartPolicy: corev1.RestartPolicyNever,
		Containers:    []corev1.Container{{Name: "my-submitter", Image: "example.com/submitter:1", Command: command, Args: args}},
	}}
	if err := k8s.Create(ctx, job); err != nil {
		t.Fatalf("a RayJob whose submitter pod has its own command: %v", err)
	}
	j := waitForDeployment(t, ctx, "auth", name, rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed)
	out, _ := outputs.Load(name)
	if j.Status.JobDeploymentStatus != rayv1.JobDeploymentStatusComplete || j.Status.JobStatus != rayv1.JobStatusSucceeded {
		t.Fatalf("ended %s/%s (%s); submitter output: %v", j.Status.JobDeploymentStatus, j.Status.JobStatus, j.Status.Message, out)
	}
	if !strings.Contains(out.(string), "from the light-weight submitter") {
		t.Errorf("the user's submitter did not run the job:\n%s", out)
	}
	sj := &batchv1.Job{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: "auth", Name: name}, sj); err != nil {
		t.Fatal(err)
	}
	c := sj.Spec.Template.Spec.Containers[0]
	if c.Name != "my-submitter" || c.Image != "example.com/submitter:1" || !slices.Equal(c.Command, command) || !slices.Equal(c.Args, args) {
		t.Errorf("submitter container %s %s %q %q, want the user's as given", c.Name, c.Image, c.Command, c.Args)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env["RAY_DASHBOARD_ADDRESS"].Value != j.Status.DashboardURL || env["RAY_JOB_SUBMISSION_ID"].Value != j.Status.JobId || j.Status.JobId == "" {
		t.Errorf("submitter env %+v, want RAY_DASHBOARD_ADDRESS=%s and RAY_JOB_SUBMISSION_ID=%s", env, j.Status.DashboardURL, j.Status.JobId)
	}
	if ref := env["RAY_AUTH_TOKEN"].ValueFrom; ref == nil || ref.SecretKeyRef == nil || ref.SecretKeyRef.Name != "light-token" {
		t.Errorf("submitter env %+v, want RAY_AUTH_TOKEN from light-token", env)
	}
}
