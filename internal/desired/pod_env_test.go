package desired

import (
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func fieldRef(path string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}
}

func TestPodEnv(t *testing.T) {
	headAddr := "127.0.0.1:6379"
	workerAddr := "demo-head-svc.ns1.svc.cluster.local:6379"
	tests := []struct {
		name   string
		worker bool
		edit   func(c *rayv1.RayCluster)
		opts   PodOptions
		want   map[string]corev1.EnvVar
	}{
		{name: "head", want: map[string]corev1.EnvVar{
			"RAY_CLOUD_INSTANCE_ID": {ValueFrom: fieldRef("metadata.name")},
			"RAY_CLUSTER_NAMESPACE": {ValueFrom: fieldRef("metadata.namespace")},
			"RAY_CLUSTER_NAME":      {ValueFrom: fieldRef("metadata.labels['ray.io/cluster']")},
			"RAY_POD_IP":            {ValueFrom: fieldRef("status.podIP")},
			"RAY_NODE_TYPE_NAME":    {Value: "headgroup"},
			"RAY_ADDRESS":           {Value: headAddr},
			"GORAY_ADDRESS":         {Value: headAddr},
			"FQ_RAY_IP":             {Value: "demo-head-svc.ns1.svc.cluster.local"},
			"RAY_IP":                {Value: "demo-head-svc"},
		}},
		{name: "head port override", edit: func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.RayStartParams["port"] = "7000" },
			want: map[string]corev1.EnvVar{"RAY_ADDRESS": {Value: "127.0.0.1:7000"}, "GORAY_ADDRESS": {Value: "127.0.0.1:7000"}}},
		{name: "worker", worker: true, want: map[string]corev1.EnvVar{
			"RAY_CLOUD_INSTANCE_ID": {ValueFrom: fieldRef("metadata.name")},
			"RAY_NODE_TYPE_NAME":    {Value: "small"},
			"RAY_ADDRESS":           {Value: workerAddr},
			"GORAY_ADDRESS":         {Value: workerAddr},
			"FQ_RAY_IP":             {Value: "demo-head-svc.ns1.svc.cluster.local"},
		}},
		{name: "worker custom domain", worker: true, opts: PodOptions{ClusterDomain: "k.local"}, want: map[string]corev1.EnvVar{
			"RAY_ADDRESS": {Value: "demo-head-svc.ns1.svc.k.local:6379"},
			"FQ_RAY_IP":   {Value: "demo-head-svc.ns1.svc.k.local"},
		}},
		{name: "user env wins", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env = []corev1.EnvVar{
				{Name: "RAY_ADDRESS", Value: "mine:1"}, {Name: "RAY_NODE_TYPE_NAME", Value: "custom"},
			}
		}, want: map[string]corev1.EnvVar{
			"RAY_ADDRESS":        {Value: "mine:1"},
			"RAY_NODE_TYPE_NAME": {Value: "custom"},
			"GORAY_ADDRESS":      {Value: headAddr},
		}},
		{name: "worker user env wins", worker: true, edit: func(c *rayv1.RayCluster) {
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "FQ_RAY_IP", Value: "x"}}
		}, want: map[string]corev1.EnvVar{"FQ_RAY_IP": {Value: "x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			if tt.edit != nil {
				tt.edit(c)
			}
			pod := HeadPod(c, tt.opts)
			if tt.worker {
				pod = WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], tt.opts)
			}
			env := pod.Spec.Containers[0].Env
			for name, want := range tt.want {
				got := mustEnv(t, env, name)
				want.Name = name
				if !reflect.DeepEqual(got, want) {
					t.Errorf("env %s = %+v, want %+v", name, got, want)
				}
			}
			for _, name := range []string{"RAY_REDIS_ADDRESS", "RAY_gcs_rpc_server_reconnect_timeout_s"} {
				if _, ok := findEnv(t, env, name); ok {
					t.Errorf("env %s set without its feature", name)
				}
			}
		})
	}
}

func autoscalingCluster() *rayv1.RayCluster {
	c := testCluster()
	c.Spec.EnableInTreeAutoscaling = ptr.To(true)
	return c
}

func TestAutoscalerSidecar(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		c := testCluster()
		pod := HeadPod(c, PodOptions{})
		if len(pod.Spec.Containers) != 1 || pod.Spec.ServiceAccountName != "" {
			t.Errorf("containers=%d sa=%q, want 1 and none", len(pod.Spec.Containers), pod.Spec.ServiceAccountName)
		}
		c.Spec.EnableInTreeAutoscaling = ptr.To(false)
		if n := len(HeadPod(c, PodOptions{}).Spec.Containers); n != 1 {
			t.Errorf("enableInTreeAutoscaling=false: %d containers", n)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		c := autoscalingCluster()
		pod := HeadPod(c, PodOptions{})
		if len(pod.Spec.Containers) != 2 || pod.Spec.Containers[0].Name != "ray-head" {
			t.Fatalf("containers = %d, want ray first then the sidecar", len(pod.Spec.Containers))
		}
		a := container(t, pod, "autoscaler")
		wantCmd := []string{"goray", "autoscaler", "--cluster-name=$(RAY_CLUSTER_NAME)", "--cluster-namespace=$(RAY_CLUSTER_NAMESPACE)", "--address=127.0.0.1:6379"}
		if !slices.Equal(a.Command, wantCmd) {
			t.Errorf("command = %q, want %q", a.Command, wantCmd)
		}
		if a.Image != "goray:1" || a.ImagePullPolicy != corev1.PullIfNotPresent {
			t.Errorf("image = %q %q, want the ray image IfNotPresent", a.Image, a.ImagePullPolicy)
		}
		for _, rl := range []corev1.ResourceList{a.Resources.Limits, a.Resources.Requests} {
			if rl.Cpu().Cmp(resource.MustParse("500m")) != 0 || rl.Memory().Cmp(resource.MustParse("512Mi")) != 0 {
				t.Errorf("resources = %v, want 500m/512Mi", rl)
			}
		}
		if e := mustEnv(t, a.Env, "RAY_CLUSTER_NAME"); !reflect.DeepEqual(e.ValueFrom, fieldRef("metadata.labels['ray.io/cluster']")) {
			t.Errorf("RAY_CLUSTER_NAME = %+v", e)
		}
		if e := mustEnv(t, a.Env, "RAY_HEAD_POD_NAME"); !reflect.DeepEqual(e.ValueFrom, fieldRef("metadata.name")) {
			t.Errorf("RAY_HEAD_POD_NAME = %+v", e)
		}
		mustEnv(t, a.Env, "RAY_CLUSTER_NAMESPACE")
		if e := mustEnv(t, a.Env, "KUBERAY_CRD_VER"); e.Value != "v1" {
			t.Errorf("KUBERAY_CRD_VER = %q", e.Value)
		}
		if pod.Spec.ServiceAccountName != "demo" {
			t.Errorf("serviceAccountName = %q, want demo", pod.Spec.ServiceAccountName)
		}
		if pod.Spec.RestartPolicy != corev1.RestartPolicyAlways {
			t.Errorf("restartPolicy = %q, want Always without v2", pod.Spec.RestartPolicy)
		}
	})
	t.Run("gcs port override", func(t *testing.T) {
		c := autoscalingCluster()
		c.Spec.HeadGroupSpec.RayStartParams["port"] = "7000"
		a := container(t, HeadPod(c, PodOptions{}), "autoscaler")
		if !slices.Contains(a.Command, "--address=127.0.0.1:7000") {
			t.Errorf("command = %q, want --address=127.0.0.1:7000", a.Command)
		}
	})
	t.Run("options override", func(t *testing.T) {
		c := autoscalingCluster()
		c.Spec.HeadGroupSpec.Template.Spec.ServiceAccountName = "user-sa"
		res := corev1.ResourceRequirements{Limits: limits("cpu", "1", "memory", "1Gi")}
		sc := &corev1.SecurityContext{RunAsNonRoot: ptr.To(true)}
		c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{
			Image:           ptr.To("autoscaler:2"),
			ImagePullPolicy: ptr.To(corev1.PullAlways),
			Resources:       &res,
			SecurityContext: sc,
			Command:         []string{"custom"},
			Args:            []string{"--x"},
			Env:             []corev1.EnvVar{{Name: "KUBERAY_CRD_VER", Value: "mine"}, {Name: "EXTRA", Value: "1"}},
			EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cm"}}}},
			VolumeMounts:    []corev1.VolumeMount{{Name: "v", MountPath: "/v"}},
		}
		pod := HeadPod(c, PodOptions{})
		a := container(t, pod, "autoscaler")
		if a.Image != "autoscaler:2" || a.ImagePullPolicy != corev1.PullAlways {
			t.Errorf("image = %q %q", a.Image, a.ImagePullPolicy)
		}
		if !reflect.DeepEqual(a.Resources, res) || a.SecurityContext == nil || !ptr.Deref(a.SecurityContext.RunAsNonRoot, false) {
			t.Errorf("resources/securityContext not taken from options: %+v %+v", a.Resources, a.SecurityContext)
		}
		if a.SecurityContext == sc || sc.RunAsUser != nil {
			t.Error("the pod shares (and hardening changed) the options' securityContext")
		}
		if !slices.Equal(a.Command, []string{"custom"}) || !slices.Equal(a.Args, []string{"--x"}) {
			t.Errorf("command/args = %q %q", a.Command, a.Args)
		}
		if e := mustEnv(t, a.Env, "KUBERAY_CRD_VER"); e.Value != "mine" {
			t.Errorf("user env lost: KUBERAY_CRD_VER = %q", e.Value)
		}
		mustEnv(t, a.Env, "EXTRA")
		mustEnv(t, a.Env, "RAY_CLUSTER_NAME")
		if len(a.EnvFrom) != 1 || len(a.VolumeMounts) != 2 || a.VolumeMounts[0].MountPath != "/v" || a.VolumeMounts[1].MountPath != "/tmp" {
			t.Errorf("envFrom/volumeMounts = %v %v", a.EnvFrom, a.VolumeMounts)
		}
		if pod.Spec.ServiceAccountName != "user-sa" {
			t.Errorf("serviceAccountName = %q, want the user's", pod.Spec.ServiceAccountName)
		}
		// The options slices must not be shared with the pod.
		a.Env[0].Value = "changed"
		if c.Spec.AutoscalerOptions.Env[0].Value != "mine" {
			t.Error("pod shares the options' env slice")
		}
	})
	t.Run("v2 restart policy", func(t *testing.T) {
		for _, v := range []string{"v1", "v2"} {
			c := autoscalingCluster()
			ver := rayv1.AutoscalerVersion(v)
			c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{Version: &ver}
			want := corev1.RestartPolicyAlways
			if v == "v2" {
				want = corev1.RestartPolicyNever
			}
			if got := HeadPod(c, PodOptions{}).Spec.RestartPolicy; got != want {
				t.Errorf("%s: restartPolicy = %q, want %q", v, got, want)
			}
		}
		// v2 without autoscaling changes nothing.
		c := testCluster()
		ver := rayv1.AutoscalerVersion("v2")
		c.Spec.AutoscalerOptions = &rayv1.AutoscalerOptions{Version: &ver}
		if got := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.RestartPolicy; got != corev1.RestartPolicyAlways {
			t.Errorf("v2 without autoscaling: worker restartPolicy = %q", got)
		}
	})
}

func secretRef(name string) *corev1.EnvVarSource {
	return &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: name}, Key: "auth_token"}}
}

// TestAuthTokenEnv: which containers get RAY_AUTH_MODE and RAY_AUTH_TOKEN,
// from where, and that what the user set wins and is never doubled.
func TestAuthTokenEnv(t *testing.T) {
	manual := corev1.EnvVar{Name: "RAY_AUTH_TOKEN", ValueFrom: secretRef("manual")}
	tests := []struct {
		name      string
		auth      *rayv1.AuthOptions
		edit      func(c *rayv1.RayCluster)
		autoscale bool
		// want is RAY_AUTH_TOKEN of the Ray, autoscaler and submitter
		// containers (nil: no token env at all); the user's sidecar never gets one.
		want       *corev1.EnvVar
		needSecret bool
		check      func(t *testing.T, head, worker *corev1.Pod)
	}{
		{name: "no authOptions: token by default", want: &corev1.EnvVar{ValueFrom: secretRef("demo")}, needSecret: true},
		{name: "empty authOptions: token", auth: &rayv1.AuthOptions{}, want: &corev1.EnvVar{ValueFrom: secretRef("demo")}, needSecret: true},
		{name: "disabled", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeDisabled}},
		{name: "token generated secret", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken}, want: &corev1.EnvVar{ValueFrom: secretRef("demo")}, needSecret: true},
		{name: "token user secret", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("mine")}, want: &corev1.EnvVar{ValueFrom: secretRef("mine")}},
		{name: "token empty secret name", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("")}, want: &corev1.EnvVar{ValueFrom: secretRef("demo")}, needSecret: true},
		{name: "token with autoscaler", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken}, autoscale: true, want: &corev1.EnvVar{ValueFrom: secretRef("demo")}, needSecret: true},
		{name: "user token on the head (KubeRay auth-manual) is everyone's", autoscale: true, edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "RAY_AUTH_MODE", Value: "token"}, manual}
		}, want: &manual},
		{name: "user token on the head wins over secretName", auth: &rayv1.AuthOptions{Mode: rayv1.AuthModeToken, SecretName: ptr.To("mine")}, edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env = []corev1.EnvVar{manual}
		}, want: &manual},
		{name: "literal user token", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "RAY_AUTH_TOKEN", Value: "lit"}}
		}, want: &corev1.EnvVar{Value: "lit"}},
		{name: "a worker's own token and mode are kept", edit: func(c *rayv1.RayCluster) {
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "RAY_AUTH_MODE", Value: "TOKEN"}, {Name: "RAY_AUTH_TOKEN", Value: "w"}}
		}, needSecret: true, check: func(t *testing.T, _, worker *corev1.Pod) {
			env := worker.Spec.Containers[0].Env
			if e := mustEnv(t, env, "RAY_AUTH_TOKEN"); e.Value != "w" || e.ValueFrom != nil {
				t.Errorf("worker RAY_AUTH_TOKEN = %+v, want the user's", e)
			}
			if e := mustEnv(t, env, "RAY_AUTH_MODE"); e.Value != "TOKEN" {
				t.Errorf("worker RAY_AUTH_MODE = %+v, want the user's", e)
			}
		}},
		{name: "a token file wins", edit: func(c *rayv1.RayCluster) {
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "RAY_AUTH_TOKEN_PATH", Value: "/secret/token"}}
		}, needSecret: true, check: func(t *testing.T, _, worker *corev1.Pod) {
			env := worker.Spec.Containers[0].Env
			if _, ok := findEnv(t, env, "RAY_AUTH_TOKEN"); ok {
				t.Error("RAY_AUTH_TOKEN added beside RAY_AUTH_TOKEN_PATH: it would win over the file")
			}
			if e := mustEnv(t, env, "RAY_AUTH_MODE"); e.Value != "token" {
				t.Errorf("worker RAY_AUTH_MODE = %+v", e)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.AuthOptions = tt.auth
			c.Spec.EnableInTreeAutoscaling = ptr.To(tt.autoscale)
			if tt.edit != nil {
				tt.edit(c)
			}
			if got := NeedsAuthSecret(c); got != tt.needSecret {
				t.Errorf("NeedsAuthSecret = %v, want %v", got, tt.needSecret)
			}
			side := corev1.Container{Name: "sidecar", Image: "busybox"}
			c.Spec.HeadGroupSpec.Template.Spec.Containers = append(c.Spec.HeadGroupSpec.Template.Spec.Containers, side)
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers = append(c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers, side)
			head, worker := HeadPod(c, PodOptions{}), WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
			if tt.check != nil {
				tt.check(t, head, worker)
				return
			}
			job := testRayJob()
			job.Spec.RayClusterSpec = &c.Spec
			submitter := SubmitterJob(job, c, rjDashboard).Spec.Template.Spec.Containers[0]
			containers := append(append(slices.Clone(head.Spec.Containers), worker.Spec.Containers...), submitter)
			for _, ct := range containers {
				tok, ok := findEnv(t, ct.Env, "RAY_AUTH_TOKEN")
				mode, modeOK := findEnv(t, ct.Env, "RAY_AUTH_MODE")
				if ct.Name == "sidecar" || tt.want == nil {
					if ok || modeOK {
						t.Errorf("%s: auth env %+v %+v, want none", ct.Name, tok, mode)
					}
					continue
				}
				want := *tt.want
				want.Name = "RAY_AUTH_TOKEN"
				if !ok || !reflect.DeepEqual(tok, want) {
					t.Errorf("%s: RAY_AUTH_TOKEN = %+v, want %+v", ct.Name, tok, want)
				}
				if mode.Value != "token" {
					t.Errorf("%s: RAY_AUTH_MODE = %q", ct.Name, mode.Value)
				}
			}
			if tt.autoscale {
				container(t, head, "autoscaler") // present, and checked above
			}
		})
	}
}

func TestGCSFaultToleranceEnv(t *testing.T) {
	pwFrom := &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "redis"}, Key: "pw"}}
	tests := []struct {
		name       string
		ft         *rayv1.GcsFaultToleranceOptions
		annotation bool
		head       map[string]corev1.EnvVar // nil entry value checks absence via absent list
		absent     []string
		reconnect  bool
	}{
		{name: "off", absent: []string{"RAY_REDIS_ADDRESS", "RAY_external_storage_namespace", "REDIS_PASSWORD"}},
		{name: "redis defaults", ft: &rayv1.GcsFaultToleranceOptions{RedisAddress: "redis:6379"}, reconnect: true,
			head: map[string]corev1.EnvVar{
				"RAY_REDIS_ADDRESS":              {Value: "redis:6379"},
				"RAY_external_storage_namespace": {Value: "uid-1234"},
			}, absent: []string{"REDIS_PASSWORD", "REDIS_USERNAME", "RAY_gcs_storage_path"}},
		{name: "redis credentials and namespace", reconnect: true, ft: &rayv1.GcsFaultToleranceOptions{
			RedisAddress: "redis:6379", ExternalStorageNamespace: "my-ns",
			RedisPassword: &rayv1.RedisCredential{ValueFrom: pwFrom},
			RedisUsername: &rayv1.RedisCredential{Value: "alice"},
		}, head: map[string]corev1.EnvVar{
			"RAY_external_storage_namespace": {Value: "my-ns"},
			"REDIS_PASSWORD":                 {ValueFrom: pwFrom},
			"REDIS_USERNAME":                 {Value: "alice"},
		}},
		{name: "rocksdb", reconnect: true, ft: &rayv1.GcsFaultToleranceOptions{Backend: rayv1.GcsBackendRocksDB},
			head:   map[string]corev1.EnvVar{"RAY_gcs_storage_path": {Value: "/data/gcs"}, "RAY_external_storage_namespace": {Value: "uid-1234"}},
			absent: []string{"RAY_REDIS_ADDRESS"}},
		{name: "legacy annotation", annotation: true, reconnect: true, absent: []string{"RAY_REDIS_ADDRESS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.GcsFaultToleranceOptions = tt.ft
			if tt.annotation {
				c.Annotations = map[string]string{rayv1.RayFTEnabledAnnotationKey: "true"}
			}
			head := HeadPod(c, PodOptions{}).Spec.Containers[0].Env
			for name, want := range tt.head {
				got := mustEnv(t, head, name)
				want.Name = name
				if !reflect.DeepEqual(got, want) {
					t.Errorf("head env %s = %+v, want %+v", name, got, want)
				}
			}
			for _, name := range tt.absent {
				if _, ok := findEnv(t, head, name); ok {
					t.Errorf("head env %s set", name)
				}
			}
			worker := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{}).Spec.Containers[0].Env
			e, ok := findEnv(t, worker, "RAY_gcs_rpc_server_reconnect_timeout_s")
			if ok != tt.reconnect || (ok && e.Value != "600") {
				t.Errorf("worker reconnect timeout = %+v (present %v), want present=%v with 600", e, ok, tt.reconnect)
			}
			if _, ok := findEnv(t, worker, "RAY_REDIS_ADDRESS"); ok {
				t.Error("worker got the Redis address")
			}
		})
	}
	t.Run("user env wins", func(t *testing.T) {
		c := testCluster()
		c.Spec.GcsFaultToleranceOptions = &rayv1.GcsFaultToleranceOptions{RedisAddress: "redis:6379"}
		c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "RAY_REDIS_ADDRESS", Value: "other:1"}}
		if got := mustEnv(t, HeadPod(c, PodOptions{}).Spec.Containers[0].Env, "RAY_REDIS_ADDRESS").Value; got != "other:1" {
			t.Errorf("RAY_REDIS_ADDRESS = %q, want the user's", got)
		}
	})
}

func TestRedisCleanupJob(t *testing.T) {
	c := testCluster()
	c.Spec.GcsFaultToleranceOptions = &rayv1.GcsFaultToleranceOptions{RedisAddress: "redis:6379", ExternalStorageNamespace: "ns-x"}
	h := &c.Spec.HeadGroupSpec.Template.Spec
	h.Containers[0].ImagePullPolicy = corev1.PullAlways
	h.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
	job := RedisCleanupJob(c)
	if job.Name != "demo-redis-cleanup" || job.Namespace != "ns1" {
		t.Errorf("name = %s/%s", job.Namespace, job.Name)
	}
	checkOwner(t, job.OwnerReferences, c)
	for _, labels := range []map[string]string{job.Labels, job.Spec.Template.Labels} {
		checkObjectLabels(t, labels, "demo")
		if labels[rayv1.RayNodeTypeLabelKey] != "redis-cleanup" {
			t.Errorf("node-type = %q, want redis-cleanup", labels[rayv1.RayNodeTypeLabelKey])
		}
	}
	if job.Spec.BackoffLimit == nil || *job.Spec.BackoffLimit != 2 || job.Spec.ActiveDeadlineSeconds == nil || *job.Spec.ActiveDeadlineSeconds != 300 {
		t.Errorf("backoffLimit/activeDeadline = %v/%v", job.Spec.BackoffLimit, job.Spec.ActiveDeadlineSeconds)
	}
	ps := job.Spec.Template.Spec
	if ps.RestartPolicy != corev1.RestartPolicyNever || len(ps.Containers) != 1 || !reflect.DeepEqual(ps.ImagePullSecrets, h.ImagePullSecrets) {
		t.Fatalf("pod spec = %+v", ps)
	}
	ct := ps.Containers[0]
	if ct.Image != "goray:1" || ct.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image = %q %q, want the head's", ct.Image, ct.ImagePullPolicy)
	}
	wantCmd := []string{"goray", "gcs-cleanup", "--redis-address=$(RAY_REDIS_ADDRESS)", "--namespace=$(RAY_external_storage_namespace)"}
	if !slices.Equal(ct.Command, wantCmd) {
		t.Errorf("command = %q", ct.Command)
	}
	if mustEnv(t, ct.Env, "RAY_REDIS_ADDRESS").Value != "redis:6379" || mustEnv(t, ct.Env, "RAY_external_storage_namespace").Value != "ns-x" {
		t.Errorf("env = %+v", ct.Env)
	}
	// A head template without containers must not panic.
	c.Spec.HeadGroupSpec.Template.Spec.Containers = nil
	if got := RedisCleanupJob(c).Spec.Template.Spec.Containers[0].Image; got != "" {
		t.Errorf("image without head container = %q", got)
	}
}
