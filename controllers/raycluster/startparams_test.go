package raycluster_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/testenv"
)

// TestShellQuotedStartParamsReconcile: KubeRay's ray-job.resources.yaml
// writes resources as shell text ('"{\"resource1\": 2}"'). Its cluster
// reconciles without a failure, and the head runs `goray start` with the
// word the shell would have passed.
func TestShellQuotedStartParamsReconcile(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "api", "v1", "testdata", "kuberay-samples", "ray-job.resources.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	job := &rayv1.RayJob{}
	if err := yaml.Unmarshal(data, job); err != nil {
		t.Fatal(err)
	}
	c := &rayv1.RayCluster{Spec: *job.Spec.RayClusterSpec}
	c.Namespace, c.Name = "samples", "shell-words"
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, c.Namespace, c.Name, 1)
	eventually(t, "a status without ReplicaFailure", func() (bool, error) {
		got, err := getCluster(ctx, c.Namespace, c.Name)
		if err != nil {
			return false, err
		}
		if f := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure)); f != nil {
			t.Fatalf("ReplicaFailure %s: %s", f.Reason, f.Message)
		}
		return got.Status.ObservedGeneration == got.Generation, nil
	})
	ps, err := pods(ctx, c.Namespace, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if p.Labels[rayv1.RayNodeTypeLabelKey] != "head" {
			continue
		}
		cmd := p.Spec.Containers[0].Command
		for _, want := range []string{`--resources={"resource1":2,"resource2":3}`, "--num-cpus=3", "--num-gpus=2"} {
			if !slices.Contains(cmd, want) {
				t.Errorf("head command %q lacks %s", cmd, want)
			}
		}
		return
	}
	t.Fatal("no head pod")
}

// TestStartParamNotOneShellWordIsInvalidSpec: a value the shell would split
// or run is reported naming the field, and no pod is created.
func TestStartParamNotOneShellWordIsInvalidSpec(t *testing.T) {
	ctx := context.Background()
	c := newCluster("invalid", "split", workerGroup("g", 1, 0, 5))
	c.Spec.HeadGroupSpec.RayStartParams["node-name"] = "head; rm -rf /"
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ReplicaFailure InvalidSpec naming the field", func() (bool, error) {
		got, err := getCluster(ctx, "invalid", "split")
		if err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure))
		return cond != nil && cond.Reason == rayv1.InvalidSpec &&
			cond.Message == `spec.headGroupSpec.rayStartParams.node-name: "head; rm -rf /" is not one shell word: unquoted ';' is a shell operator; quote it`, nil
	})
	if ps, err := pods(ctx, "invalid", "split"); err != nil || len(ps) != 0 {
		t.Fatalf("pods were created from an invalid spec: %d %v", len(ps), err)
	}
}

// TestServeGRPCPortOnTheServePortIsInvalidSpec: a gRPC proxy asked for on
// the port the container names serve (where the HTTP proxy goes) would
// keep the node from starting; it is reported naming the field, and no pod
// is created.
func TestServeGRPCPortOnTheServePortIsInvalidSpec(t *testing.T) {
	ctx := context.Background()
	c := newCluster("invalid", "grpc-on-serve", workerGroup("g", 1, 0, 5))
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000}}
	c.Spec.WorkerGroupSpecs[0].RayStartParams["serve-grpc-port"] = "9000"
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ReplicaFailure InvalidSpec naming the field", func() (bool, error) {
		got, err := getCluster(ctx, "invalid", "grpc-on-serve")
		if err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure))
		return cond != nil && cond.Reason == rayv1.InvalidSpec && cond.Message == `spec.workerGroupSpecs[0].rayStartParams.serve-grpc-port: "9000" `+
			`is also the serve HTTP proxy's port (serve-port, or the Ray container's port named serve): give the gRPC proxy another port, or 0 for none`, nil
	})
	if ps, err := pods(ctx, "invalid", "grpc-on-serve"); err != nil || len(ps) != 0 {
		t.Fatalf("pods were created from an invalid spec: %d %v", len(ps), err)
	}
}
