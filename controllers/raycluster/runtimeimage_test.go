package raycluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/raycluster"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
)

// kubeRaySample is KubeRay's ray-cluster.sample.yaml as KubeRay ships it
// (rayproject/ray:2.52.0 in both groups), under the given name.
func kubeRaySample(t *testing.T, ns, name string) *rayv1.RayCluster {
	t.Helper()
	cs := readClusters(t, filepath.Join(testenv.RepoRoot(), "api", "v1", "testdata", "kuberay-samples", "ray-cluster.sample.yaml"))
	if len(cs) != 1 {
		t.Fatalf("ray-cluster.sample.yaml holds %d RayClusters", len(cs))
	}
	c := cs[0]
	c.Namespace, c.Name = ns, name
	return c
}

// runtimeImageEvents are the cluster's RuntimeImageSubstituted events.
func runtimeImageEvents(ctx context.Context, ns, name string) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Name == name && e.Reason == raycluster.RuntimeImageSubstituted {
			out = append(out, e)
		}
	}
	return out, nil
}

// TestKubeRaySampleRunsRuntimeImage: KubeRay's sample RayCluster, applied
// as it is, gets head and worker pods that run the operator's runtime image
// (goray/goray:<version>) in place of rayproject/ray:2.52.0 with the
// sample's resources and ports, each pod noting the image it replaced, and
// one Normal RuntimeImageSubstituted event per group naming the containers
// and both images, not repeated when the group scales up.
func TestKubeRaySampleRunsRuntimeImage(t *testing.T) {
	ctx := context.Background()
	const ns, name = "basic", "kuberay-image"
	runtime := operator.DefaultRuntimeImage()
	c := kubeRaySample(t, ns, name)
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, ns, name, 1)
	heads, err := pods(ctx, ns, name, client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads: %d %v", len(heads), err)
	}
	for _, p := range []corev1.Pod{heads[0], ws[0]} {
		ray := p.Spec.Containers[0]
		if ray.Image != runtime {
			t.Errorf("pod %s: container %s runs %q, want the runtime image %q", p.Name, ray.Name, ray.Image, runtime)
		}
		if want := ray.Name + "=rayproject/ray:2.52.0"; p.Annotations[rayv1.RuntimeImageReplacesAnnotation] != want {
			t.Errorf("pod %s: %s = %q, want %q", p.Name, rayv1.RuntimeImageReplacesAnnotation, p.Annotations[rayv1.RuntimeImageReplacesAnnotation], want)
		}
	}
	head := heads[0].Spec.Containers[0]
	if mem := head.Resources.Requests[corev1.ResourceMemory]; mem.String() != "5Gi" || head.Resources.Limits.Cpu().String() != "1" {
		t.Errorf("head resources are not the sample's: %+v", head.Resources)
	}
	if p := findContainerPort(head.Ports, "client"); p != 10001 {
		t.Errorf("head ports are not the sample's: %v", head.Ports)
	}

	want := map[string]string{rayv1.HeadGroupName: "ray-head", "workergroup": "ray-worker"}
	var evs []eventsv1.Event
	eventually(t, "a RuntimeImageSubstituted event for each group", func() (bool, error) {
		evs, err = runtimeImageEvents(ctx, ns, name)
		return len(evs) >= len(want), err
	})
	for group, container := range want {
		n := 0
		for _, e := range evs {
			if !strings.Contains(e.Note, "group "+group+":") {
				continue
			}
			n++
			if e.Type != corev1.EventTypeNormal || !strings.Contains(e.Note, fmt.Sprintf("container %s runs %s in place of rayproject/ray:2.52.0", container, runtime)) ||
				!strings.Contains(e.Note, rayv1.KeepRayImageAnnotation) {
				t.Errorf("event for group %s: %s %q", group, e.Type, e.Note)
			}
		}
		if n != 1 {
			t.Errorf("%d RuntimeImageSubstituted events for group %s, want 1: %v", n, group, evs)
		}
	}

	// More workers of the same group: no new event.
	if err := patchCluster(ctx, ns, name, func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](2) }); err != nil {
		t.Fatal(err)
	}
	ws = waitForCounts(t, ctx, ns, name, 2)
	for _, w := range ws {
		if w.Spec.Containers[0].Image != runtime {
			t.Errorf("scaled-up worker %s runs %q", w.Name, w.Spec.Containers[0].Image)
		}
	}
	consistently(t, "no second RuntimeImageSubstituted event", time.Second, func() (bool, error) {
		evs, err := runtimeImageEvents(ctx, ns, name)
		if err != nil {
			return false, err
		}
		for _, e := range evs {
			if e.Series != nil {
				return false, nil
			}
		}
		return len(evs) == len(want), nil
	})
}

// TestKubeRaySampleKeepsRayImage: with goray.dev/keep-ray-image: "true" the
// sample's pods keep rayproject/ray:2.52.0, carry no note and no
// RuntimeImageSubstituted event is recorded.
func TestKubeRaySampleKeepsRayImage(t *testing.T) {
	ctx := context.Background()
	const ns, name = "basic", "kuberay-keep-image"
	c := kubeRaySample(t, ns, name)
	c.Annotations = map[string]string{rayv1.KeepRayImageAnnotation: "true"}
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, ns, name, 1)
	heads, err := pods(ctx, ns, name, client.MatchingLabels{rayv1.RayNodeTypeLabelKey: "head"})
	if err != nil || len(heads) != 1 {
		t.Fatalf("heads: %d %v", len(heads), err)
	}
	for _, p := range []corev1.Pod{heads[0], ws[0]} {
		if got := p.Spec.Containers[0].Image; got != "rayproject/ray:2.52.0" {
			t.Errorf("pod %s runs %q, want the sample's rayproject/ray:2.52.0", p.Name, got)
		}
		if v, ok := p.Annotations[rayv1.RuntimeImageReplacesAnnotation]; ok {
			t.Errorf("pod %s notes a substitution: %q", p.Name, v)
		}
	}
	consistently(t, "no RuntimeImageSubstituted event", time.Second, func() (bool, error) {
		evs, err := runtimeImageEvents(ctx, ns, name)
		return len(evs) == 0, err
	})
}

func findContainerPort(ports []corev1.ContainerPort, name string) int32 {
	for _, p := range ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	return 0
}
