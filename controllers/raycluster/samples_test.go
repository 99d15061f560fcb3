package raycluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/testenv"
)

// TestKubeRaySamplesReconcile creates every RayCluster of KubeRay's samples
// and checks that it reconciles without a failure into the objects KubeRay
// would create: the head Service by KubeRay's name with the head's named
// ports, one head pod and replicas × numOfHosts worker pods with KubeRay's
// labels, and the autoscaler's RBAC or the auth Secret when asked for.
func TestKubeRaySamplesReconcile(t *testing.T) {
	ctx := context.Background()
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "api", "v1", "testdata", "kuberay-samples", "*.yaml"))
	n := 0
	for _, file := range files {
		for _, c := range readClusters(t, file) {
			n++
			c.Namespace = "samples"
			c.Name = strings.TrimRight(truncate(fmt.Sprintf("s%02d-%s", n, c.Name), 53), "-")
			t.Run(filepath.Base(file)+"/"+c.Name, func(t *testing.T) {
				checkSample(t, ctx, c)
			})
		}
	}
	if n < 30 {
		t.Fatalf("only %d RayClusters found in the samples", n)
	}
}

func checkSample(t *testing.T, ctx context.Context, c *rayv1.RayCluster) {
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatalf("create: %v", err)
	}
	want := int(desired.CountWorkers(c).Desired)
	ws := waitForCounts(t, ctx, c.Namespace, c.Name, want)

	svc := &corev1.Service{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: desired.HeadServiceName(c)}, svc); err != nil {
		t.Fatalf("head service %s: %v", desired.HeadServiceName(c), err)
	}
	svcPorts := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		svcPorts[p.Name] = p.Port
	}
	if c.Spec.HeadGroupSpec.HeadService == nil || len(c.Spec.HeadGroupSpec.HeadService.Spec.Ports) == 0 {
		for _, p := range c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports {
			if p.Name != "" && svcPorts[p.Name] != p.ContainerPort {
				t.Errorf("head service lacks the head's port %s:%d (has %v)", p.Name, p.ContainerPort, svcPorts)
			}
		}
		exposed := map[int32]bool{}
		for _, p := range svcPorts {
			exposed[p] = true
		}
		if !exposed[6379] || !exposed[8265] {
			t.Errorf("head service does not expose the GCS (6379) and dashboard (8265) ports: %v", svcPorts)
		}
	}
	for _, w := range ws {
		if w.Labels[rayv1.RayIsRayNodeLabelKey] != "yes" || w.Labels[rayv1.RayIDLabelKey] != c.Name+"-worker" ||
			w.Labels[rayv1.KubernetesApplicationNameKey] != "kuberay" {
			t.Errorf("worker %s labels %v", w.Name, w.Labels)
		}
	}
	if desired.AutoscalerEnabled(c) {
		role := &corev1.ServiceAccount{}
		if desired.NeedsAutoscalerServiceAccount(c) {
			if err := k8s.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: c.Name}, role); err != nil {
				t.Errorf("autoscaler ServiceAccount: %v", err)
			}
		}
	}
	if desired.NeedsAuthSecret(c) {
		if err := k8s.Get(ctx, client.ObjectKey{Namespace: c.Namespace, Name: desired.AuthSecretName(c)}, &corev1.Secret{}); err != nil {
			t.Errorf("auth Secret: %v", err)
		}
	}
	eventually(t, "a status without ReplicaFailure", func() (bool, error) {
		got, err := getCluster(ctx, c.Namespace, c.Name)
		if err != nil {
			return false, err
		}
		if f := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure)); f != nil {
			return false, fmt.Errorf("ReplicaFailure %s: %s", f.Reason, f.Message)
		}
		return got.Status.ObservedGeneration == got.Generation && got.Status.DesiredWorkerReplicas == int32(want), nil
	})
}

func readClusters(t *testing.T, path string) []*rayv1.RayCluster {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*rayv1.RayCluster
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		if doc["kind"] != "RayCluster" {
			continue
		}
		raw, _ := yaml.Marshal(doc)
		c := &rayv1.RayCluster{}
		if err := yaml.UnmarshalStrict(raw, c); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, c)
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
