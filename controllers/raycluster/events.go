package raycluster

import (
	"fmt"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// emitTransitionEvents records an event for each condition that changed
// between the old and the new status, and nothing otherwise.
func (r *Reconciler) emitTransitionEvents(c *rayv1.RayCluster, next rayv1.RayClusterStatus) {
	for _, t := range []rayv1.RayClusterConditionType{rayv1.HeadPodReady, rayv1.RayClusterProvisioned, rayv1.RayClusterSuspended} {
		before := meta.FindStatusCondition(c.Status.Conditions, string(t))
		after := meta.FindStatusCondition(next.Conditions, string(t))
		if after == nil || (before != nil && before.Status == after.Status) {
			continue
		}
		if before == nil && after.Status != "True" {
			continue // a condition starting out false is not news
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, string(t), "Status", "%s is %s: %s %s", t, after.Status, after.Reason, after.Message)
	}
	if rf := meta.FindStatusCondition(next.Conditions, string(rayv1.RayClusterReplicaFailure)); rf == nil &&
		meta.FindStatusCondition(c.Status.Conditions, string(rayv1.RayClusterReplicaFailure)) != nil {
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "ReplicaFailureResolved", "Status", "pods are created and deleted again")
	}
}

// RuntimeImageSubstituted is the reason of the event that says a group's
// pods run the operator's runtime image in place of Ray's images.
const RuntimeImageSubstituted = "RuntimeImageSubstituted"

// runtimeImageNotes remembers the last RuntimeImageSubstituted note of each
// cluster's groups ("namespace/name" → group → note), so the event is
// recorded when the operator first creates such pods and whenever what it
// substitutes changes, not on every pod it creates.
type runtimeImageNotes struct {
	mu   sync.Mutex
	last map[string]map[string]string
}

// changed stores note as the group's latest and reports whether it differs
// from the one before.
func (n *runtimeImageNotes) changed(cluster, group, note string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.last[cluster][group] == note {
		return false
	}
	if n.last == nil {
		n.last = map[string]map[string]string{}
	}
	if n.last[cluster] == nil {
		n.last[cluster] = map[string]string{}
	}
	n.last[cluster][group] = note
	return true
}

func (n *runtimeImageNotes) forget(cluster string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.last, cluster)
}

// runtimeImageNote describes what the builder substituted in a group's
// pod (desired.ReplacedImages), or "" when it substituted nothing.
func runtimeImageNote(group string, pod *corev1.Pod) string {
	replaced := desired.ReplacedImages(pod)
	if len(replaced) == 0 {
		return ""
	}
	images := map[string]string{}
	for _, ct := range pod.Spec.Containers {
		images[ct.Name] = ct.Image
	}
	parts := make([]string, len(replaced))
	for i, r := range replaced {
		name, from, _ := strings.Cut(r, "=")
		parts[i] = fmt.Sprintf("container %s runs %s in place of %s", name, images[name], from)
	}
	return fmt.Sprintf("group %s: %s (goray's runtime in place of Ray's image; annotation %s: \"true\" keeps Ray's images)",
		group, strings.Join(parts, ", "), rayv1.KeepRayImageAnnotation)
}

// reportRuntimeImage records a Normal RuntimeImageSubstituted event on the
// cluster when the pods just created for group run the runtime image in
// place of a Ray image and that is news for the group (see runtimeImageNotes).
// The event's related object is the first such pod: the events API merges
// events of the same object, reason and action into one series that keeps
// the first note, which would hide the other groups' notes.
func (r *Reconciler) reportRuntimeImage(c *rayv1.RayCluster, group string, created []*corev1.Pod) {
	if len(created) == 0 {
		return
	}
	note := runtimeImageNote(group, created[0])
	if r.imageNotes.changed(c.Namespace+"/"+c.Name, group, note) && note != "" {
		r.Recorder.Eventf(c, created[0], corev1.EventTypeNormal, RuntimeImageSubstituted, "Create", "%s", note)
	}
}
