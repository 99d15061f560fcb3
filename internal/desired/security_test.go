package desired

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// restricted is what a container gets when its template sets nothing.
func restricted() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsUser:                ptr.To(RuntimeUser),
		RunAsGroup:               ptr.To(RuntimeUser),
		RunAsNonRoot:             ptr.To(true),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func checkHardened(t *testing.T, what string, spec *corev1.PodSpec, ct *corev1.Container) {
	t.Helper()
	if !reflect.DeepEqual(ct.SecurityContext, restricted()) {
		t.Errorf("%s: securityContext = %+v, want %+v", what, ct.SecurityContext, restricted())
	}
	checkTmp(t, what, spec, ct)
	if spec.SecurityContext == nil || ptr.Deref(spec.SecurityContext.FSGroup, 0) != RuntimeUser {
		t.Errorf("%s: pod securityContext = %+v, want fsGroup %d", what, spec.SecurityContext, RuntimeUser)
	}
}

func checkTmp(t *testing.T, what string, spec *corev1.PodSpec, ct *corev1.Container) {
	t.Helper()
	n := 0
	for _, m := range ct.VolumeMounts {
		if m.MountPath == "/tmp" {
			n++
			if m.Name != TmpVolumeName {
				t.Errorf("%s: /tmp mounts %s", what, m.Name)
			}
		}
	}
	if n != 1 {
		t.Errorf("%s: %d mounts at /tmp, want 1: %+v", what, n, ct.VolumeMounts)
	}
	vols := 0
	for _, v := range spec.Volumes {
		if v.Name == TmpVolumeName {
			vols++
			if v.EmptyDir == nil {
				t.Errorf("%s: volume %s is not an emptyDir", what, v.Name)
			}
		}
	}
	if vols != 1 {
		t.Errorf("%s: %d volumes %s, want 1", what, vols, TmpVolumeName)
	}
}

// TestHardenedByDefault: the containers the operator builds or runs the
// runtime in are restricted; the user's own sidecars are left alone.
func TestHardenedByDefault(t *testing.T) {
	c := autoscalingCluster()
	side := corev1.Container{Name: "sidecar", Image: "busybox"}
	c.Spec.HeadGroupSpec.Template.Spec.Containers = append(c.Spec.HeadGroupSpec.Template.Spec.Containers, side)
	c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers = append(c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers, side)
	before := c.DeepCopy()

	head := HeadPod(c, PodOptions{})
	checkHardened(t, "head ray", &head.Spec, &head.Spec.Containers[0])
	checkHardened(t, "autoscaler", &head.Spec, container(t, head, AutoscalerContainerName))
	worker := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
	checkHardened(t, "worker ray", &worker.Spec, &worker.Spec.Containers[0])
	for _, p := range []*corev1.Pod{head, worker} {
		s := container(t, p, "sidecar")
		if s.SecurityContext != nil || len(s.VolumeMounts) != 0 {
			t.Errorf("the user's sidecar was changed: %+v %+v", s.SecurityContext, s.VolumeMounts)
		}
	}
	if !reflect.DeepEqual(c, before) {
		t.Error("building the pods changed the cluster")
	}

	job := testRayJob()
	job.Spec.SubmissionMode = rayv1.SidecarMode
	rc := RayJobCluster(job, "train-abcde", "127.0.0.1:8265")
	sidecarHead := HeadPod(rc, PodOptions{})
	checkHardened(t, "submitter sidecar", &sidecarHead.Spec, container(t, sidecarHead, SubmitterContainerName))

	job = testRayJob()
	sj := SubmitterJob(job, RayJobCluster(job, "train-abcde", ""), rjDashboard)
	checkHardened(t, "submitter Job", &sj.Spec.Template.Spec, &sj.Spec.Template.Spec.Containers[0])

	job.Spec.SubmitterPodTemplate = &corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "mine"}, side}}}
	sj = SubmitterJob(job, RayJobCluster(job, "train-abcde", ""), rjDashboard)
	checkHardened(t, "submitter template", &sj.Spec.Template.Spec, &sj.Spec.Template.Spec.Containers[0])
	if s := sj.Spec.Template.Spec.Containers[1]; s.SecurityContext != nil || len(s.VolumeMounts) != 0 {
		t.Errorf("the submitter template's second container was changed: %+v", s)
	}

	c = testCluster()
	c.Spec.GcsFaultToleranceOptions = &rayv1.GcsFaultToleranceOptions{RedisAddress: "redis:6379"}
	cj := RedisCleanupJob(c)
	checkHardened(t, "redis cleanup", &cj.Spec.Template.Spec, &cj.Spec.Template.Spec.Containers[0])
}

// TestHardeningKeepsTheUsersChoices: only unset fields are filled, and a
// user's choice that contradicts a default turns that default off.
func TestHardeningKeepsTheUsersChoices(t *testing.T) {
	tests := []struct {
		name string
		ct   *corev1.SecurityContext
		pod  *corev1.PodSecurityContext
		os   *corev1.PodOS
		// want is the container's securityContext; nil fields of
		// restricted() that want changes are listed by edit.
		edit  func(sc *corev1.SecurityContext)
		noTmp bool
		check func(t *testing.T, p *corev1.Pod)
	}{
		{name: "own user", ct: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000)},
			edit: func(sc *corev1.SecurityContext) { sc.RunAsUser, sc.RunAsGroup = ptr.To[int64](1000), nil }},
		{name: "pod user and group", pod: &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](2000), RunAsGroup: ptr.To[int64](2000)},
			edit: func(sc *corev1.SecurityContext) { sc.RunAsUser, sc.RunAsGroup = nil, nil }},
		{name: "root on purpose", ct: &corev1.SecurityContext{RunAsUser: ptr.To[int64](0)},
			edit: func(sc *corev1.SecurityContext) {
				sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot = ptr.To[int64](0), nil, nil
			}},
		{name: "runAsNonRoot false keeps the image's user", pod: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(false)},
			edit: func(sc *corev1.SecurityContext) { sc.RunAsUser, sc.RunAsGroup, sc.RunAsNonRoot = nil, nil, nil }},
		{name: "privileged", ct: &corev1.SecurityContext{Privileged: ptr.To(true)},
			edit: func(sc *corev1.SecurityContext) {
				sc.Privileged, sc.AllowPrivilegeEscalation, sc.Capabilities = ptr.To(true), nil, nil
			}},
		{name: "SYS_ADMIN added", ct: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"SYS_ADMIN"}}},
			edit: func(sc *corev1.SecurityContext) {
				sc.AllowPrivilegeEscalation = nil
				sc.Capabilities.Add = []corev1.Capability{"SYS_ADMIN"}
			}},
		{name: "a capability added, all others dropped", ct: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_BIND_SERVICE"}}},
			edit: func(sc *corev1.SecurityContext) { sc.Capabilities.Add = []corev1.Capability{"NET_BIND_SERVICE"} }},
		{name: "own drop list", ct: &corev1.SecurityContext{Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"NET_RAW"}}},
			edit: func(sc *corev1.SecurityContext) { sc.Capabilities.Drop = []corev1.Capability{"NET_RAW"} }},
		{name: "writable root filesystem: no /tmp volume", ct: &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(false)},
			edit: func(sc *corev1.SecurityContext) { sc.ReadOnlyRootFilesystem = ptr.To(false) }, noTmp: true},
		{name: "escalation allowed", ct: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(true)},
			edit: func(sc *corev1.SecurityContext) { sc.AllowPrivilegeEscalation = ptr.To(true) }},
		{name: "pod seccomp", pod: &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
			edit: func(sc *corev1.SecurityContext) { sc.SeccompProfile = nil }},
		{name: "container seccomp", ct: &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}},
			edit: func(sc *corev1.SecurityContext) {
				sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeUnconfined}
			}},
		{name: "pod fsGroup", pod: &corev1.PodSecurityContext{FSGroup: ptr.To[int64](3000)},
			check: func(t *testing.T, p *corev1.Pod) {
				if got := ptr.Deref(p.Spec.SecurityContext.FSGroup, 0); got != 3000 {
					t.Errorf("fsGroup = %d, want the user's 3000", got)
				}
			}},
		{name: "own /tmp mount", check: func(t *testing.T, p *corev1.Pod) {}},
		{name: "windows pod", os: &corev1.PodOS{Name: corev1.Windows}, check: func(t *testing.T, p *corev1.Pod) {
			if p.Spec.Containers[0].SecurityContext != nil || p.Spec.SecurityContext != nil || len(p.Spec.Volumes) != 0 {
				t.Errorf("a Windows pod was given Linux settings: %+v %+v", p.Spec.Containers[0].SecurityContext, p.Spec.SecurityContext)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			ps := &c.Spec.HeadGroupSpec.Template.Spec
			ps.Containers[0].SecurityContext = tt.ct.DeepCopy()
			ps.SecurityContext = tt.pod.DeepCopy()
			ps.OS = tt.os
			if tt.name == "own /tmp mount" {
				ps.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/tmp/"}}
				ps.Volumes = []corev1.Volume{{Name: "scratch"}}
			}
			p := HeadPod(c, PodOptions{})
			if tt.check != nil {
				tt.check(t, p)
				if tt.name == "own /tmp mount" && (len(p.Spec.Containers[0].VolumeMounts) != 1 || len(p.Spec.Volumes) != 1) {
					t.Errorf("a second /tmp: %+v %+v", p.Spec.Containers[0].VolumeMounts, p.Spec.Volumes)
				}
				return
			}
			want := restricted()
			if tt.edit != nil {
				tt.edit(want)
			}
			if got := p.Spec.Containers[0].SecurityContext; !reflect.DeepEqual(got, want) {
				t.Errorf("securityContext =\n%+v, want\n%+v", got, want)
			}
			hasTmp := len(p.Spec.Volumes) == 1
			if hasTmp == tt.noTmp {
				t.Errorf("volumes = %+v, want the /tmp emptyDir: %v", p.Spec.Volumes, !tt.noTmp)
			}
			if tt.pod == nil || tt.pod.FSGroup == nil {
				if ptr.Deref(p.Spec.SecurityContext.FSGroup, 0) != RuntimeUser {
					t.Errorf("fsGroup = %v, want %d", p.Spec.SecurityContext.FSGroup, RuntimeUser)
				}
			}
			if tt.pod != nil && !reflect.DeepEqual(ptr.Deref(tt.pod, corev1.PodSecurityContext{}).RunAsUser, p.Spec.SecurityContext.RunAsUser) {
				t.Errorf("the pod's own securityContext changed: %+v", p.Spec.SecurityContext)
			}
		})
	}
}
