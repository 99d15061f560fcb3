package desired

import (
	"path"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// RuntimeUser is the uid and gid goray's containers run as when neither the
// container nor the pod names a user: the images' own non-root user
// (Dockerfile and hack/images, distroless's "nonroot"), which has an
// /etc/passwd entry and a home directory there.
const RuntimeUser int64 = 65532

// TmpVolumeName is the emptyDir mounted at /tmp in the containers the
// operator hardens: their root filesystem is read-only, and the runtime
// keeps its session directory under /tmp/goray (GORAY_TMPDIR).
const TmpVolumeName = "goray-tmp"

// hardenContainers applies the restricted Pod Security profile to the
// containers of spec that pick selects (the Ray container, the autoscaler,
// the job submitter; the user's own sidecars are left as they are):
// non-root as RuntimeUser, a read-only root filesystem with an emptyDir on
// /tmp, no privilege escalation, every capability dropped and seccomp
// RuntimeDefault. Only what the template leaves unset is filled in: a field
// the container's or the pod's securityContext sets wins, and a choice that
// contradicts one of ours (a root user, a privileged container) turns that
// one off rather than making the pod invalid. The pod gets fsGroup
// RuntimeUser unless it has one.
func hardenContainers(spec *corev1.PodSpec, pick func(i int, c *corev1.Container) bool) {
	if spec.OS != nil && spec.OS.Name == corev1.Windows {
		return // Linux-only settings are invalid on Windows pods
	}
	hardened := false
	for i := range spec.Containers {
		ct := &spec.Containers[i]
		if !pick(i, ct) {
			continue
		}
		hardenContainer(ct, spec.SecurityContext)
		if ptr.Deref(ct.SecurityContext.ReadOnlyRootFilesystem, false) {
			mountTmp(spec, ct)
		}
		hardened = true
	}
	if !hardened {
		return
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.SecurityContext.FSGroup == nil {
		spec.SecurityContext.FSGroup = ptr.To(RuntimeUser)
	}
}

// hardenContainer fills the container's securityContext (see hardenContainers).
func hardenContainer(ct *corev1.Container, pod *corev1.PodSecurityContext) {
	if pod == nil {
		pod = &corev1.PodSecurityContext{}
	}
	if ct.SecurityContext == nil {
		ct.SecurityContext = &corev1.SecurityContext{}
	}
	sc := ct.SecurityContext
	privileged := ptr.Deref(sc.Privileged, false)

	user, nonRoot := sc.RunAsUser, sc.RunAsNonRoot
	if user == nil {
		user = pod.RunAsUser
	}
	if nonRoot == nil {
		nonRoot = pod.RunAsNonRoot
	}
	// runAsNonRoot: false says the image's user (root) is wanted: no user of ours.
	if user == nil && (nonRoot == nil || *nonRoot) {
		sc.RunAsUser = ptr.To(RuntimeUser)
		user = sc.RunAsUser
		if sc.RunAsGroup == nil && pod.RunAsGroup == nil {
			sc.RunAsGroup = ptr.To(RuntimeUser)
		}
	}
	if nonRoot == nil && (user == nil || *user != 0) {
		sc.RunAsNonRoot = ptr.To(true)
	}
	if sc.AllowPrivilegeEscalation == nil && !privileged && !addsCapability(sc.Capabilities, "SYS_ADMIN") {
		sc.AllowPrivilegeEscalation = ptr.To(false)
	}
	if !privileged {
		if sc.Capabilities == nil {
			sc.Capabilities = &corev1.Capabilities{}
		}
		if len(sc.Capabilities.Drop) == 0 {
			sc.Capabilities.Drop = []corev1.Capability{"ALL"}
		}
	}
	if sc.ReadOnlyRootFilesystem == nil {
		sc.ReadOnlyRootFilesystem = ptr.To(true)
	}
	if sc.SeccompProfile == nil && pod.SeccompProfile == nil {
		sc.SeccompProfile = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
}

// addsCapability reports whether caps adds name (with or without "CAP_").
func addsCapability(caps *corev1.Capabilities, name corev1.Capability) bool {
	if caps == nil {
		return false
	}
	return slices.ContainsFunc(caps.Add, func(c corev1.Capability) bool { return c == name || c == "CAP_"+name })
}

// mountTmp mounts the TmpVolumeName emptyDir at /tmp unless the container
// mounts something there already.
func mountTmp(spec *corev1.PodSpec, ct *corev1.Container) {
	if slices.ContainsFunc(ct.VolumeMounts, func(m corev1.VolumeMount) bool { return path.Clean(m.MountPath) == "/tmp" }) {
		return
	}
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool { return v.Name == TmpVolumeName }) {
		spec.Volumes = append(spec.Volumes, corev1.Volume{Name: TmpVolumeName, VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
	}
	ct.VolumeMounts = append(ct.VolumeMounts, corev1.VolumeMount{Name: TmpVolumeName, MountPath: "/tmp"})
}
