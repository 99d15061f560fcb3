package raycluster_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/testenv"
)

// TestKubeRaySamplesReconcile creates every RayCluster of KubeRay's samples
// — those written as RayClusters and those a RayJob, RayService or
// RayCronJob of the samples would create — and checks that each reconciles
// without a failure into the objects KubeRay would create: the head
// Service by KubeRay's name with the head's named ports, one head pod and
// replicas × numOfHosts worker pods with KubeRay's labels, the
// autoscaler's RBAC, the auth Secret and the NetworkPolicies when asked for.
func TestKubeRaySamplesReconcile(t *testing.T) {
	ctx := context.Background()
	files, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "api", "v1", "testdata", "kuberay-samples", "*.yaml"))
	n := 0
	kinds := map[string]int{}
	for _, file := range files {
		for _, s := range readSampleClusters(t, file) {
			n++
			kinds[s.kind]++
			c := s.cluster
			c.Namespace = "samples"
			c.Name = strings.TrimRight(truncate(fmt.Sprintf("s%02d-%s", n, c.Name), 53), "-")
			if hs := c.Spec.HeadGroupSpec.HeadService; hs != nil && hs.Name != "" {
				// Two samples name the same head Service; in one namespace the
				// second cluster would find the first one's.
				hs.Name = fmt.Sprintf("s%02d-%s", n, hs.Name)
			}
			t.Run(filepath.Base(file)+"/"+s.kind+"/"+c.Name, func(t *testing.T) {
				checkSample(t, ctx, c)
			})
		}
	}
	// The samples hold 46 RayClusters, 25 RayJobs with a cluster spec of
	// their own (one more uses clusterSelector), 15 RayServices and 2
	// RayCronJobs: fewer means some were not read.
	t.Logf("RayClusters by the kind of sample they come from: %v", kinds)
	for kind, least := range map[string]int{"RayCluster": 46, "RayJob": 25, "RayService": 15, "RayCronJob": 2} {
		if kinds[kind] < least {
			t.Errorf("only %d RayClusters from %s samples, want at least %d", kinds[kind], kind, least)
		}
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
	if c.Spec.NetworkPolicy != nil {
		checkSampleNetworkPolicies(t, ctx, c)
	}
	checkSampleServePorts(t, ctx, c)
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

// checkSampleServePorts checks that every pod whose Ray container names a
// serve port (ray-service.different-port.yaml: 9000) starts its serve
// proxy there, as a KubeRay user expects, unless rayStartParams serve-port
// says otherwise or the container keeps its own command.
func checkSampleServePorts(t *testing.T, ctx context.Context, c *rayv1.RayCluster) {
	t.Helper()
	if c.Annotations[rayv1.OverwriteContainerCmdAnnotation] == "true" {
		return
	}
	want := func(params map[string]string, tmpl corev1.PodTemplateSpec) string {
		if _, ok := params["serve-port"]; ok || len(tmpl.Spec.Containers) == 0 {
			return ""
		}
		for _, p := range tmpl.Spec.Containers[0].Ports {
			if p.Name == "serve" {
				return fmt.Sprintf("--serve-port=%d", p.ContainerPort)
			}
		}
		return ""
	}
	ps, err := pods(ctx, c.Namespace, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		w := want(c.Spec.HeadGroupSpec.RayStartParams, c.Spec.HeadGroupSpec.Template)
		if p.Labels[rayv1.RayNodeTypeLabelKey] != string(rayv1.HeadNode) {
			i := slices.IndexFunc(c.Spec.WorkerGroupSpecs, func(g rayv1.WorkerGroupSpec) bool { return g.GroupName == p.Labels[rayv1.RayNodeGroupLabelKey] })
			if i < 0 {
				continue
			}
			w = want(c.Spec.WorkerGroupSpecs[i].RayStartParams, c.Spec.WorkerGroupSpecs[i].Template)
		}
		// A user command runs first in a shell, with goray's words quoted.
		line := strings.Join(append(slices.Clone(p.Spec.Containers[0].Command), p.Spec.Containers[0].Args...), " ")
		if w != "" && !strings.Contains(line, w) {
			t.Errorf("pod %s runs %q, without %s", p.Name, line, w)
		}
	}
}

// checkSampleNetworkPolicies checks that the cluster has the policies its
// spec.networkPolicy asks for, each selecting its pods and carrying the
// sample's rules.
func checkSampleNetworkPolicies(t *testing.T, ctx context.Context, c *rayv1.RayCluster) {
	t.Helper()
	want := desired.NetworkPolicies(c, desired.NetworkPolicyOptions{})
	if len(want) != 1+len(c.Spec.WorkerGroupSpecs) {
		t.Fatalf("%d policies built for a head and %d worker groups", len(want), len(c.Spec.WorkerGroupSpecs))
	}
	for _, w := range want {
		got := &networkingv1.NetworkPolicy{}
		if err := k8s.Get(ctx, client.ObjectKeyFromObject(w), got); err != nil {
			t.Errorf("NetworkPolicy %s: %v", w.Name, err)
			continue
		}
		if !reflect.DeepEqual(got.Spec.PodSelector, w.Spec.PodSelector) {
			t.Errorf("NetworkPolicy %s selects %v, want %v", w.Name, got.Spec.PodSelector, w.Spec.PodSelector)
		}
		rules := c.Spec.NetworkPolicy.Worker
		if w.Name == desired.HeadNetworkPolicyName(c.Name) {
			rules = c.Spec.NetworkPolicy.Head
		}
		if rules != nil && len(rules.EgressRules) > 0 && !slices.ContainsFunc(got.Spec.Egress, func(e networkingv1.NetworkPolicyEgressRule) bool {
			return reflect.DeepEqual(e.To, rules.EgressRules[0].To)
		}) {
			t.Errorf("NetworkPolicy %s lacks the sample's egress rule %+v: %+v", w.Name, rules.EgressRules[0], got.Spec.Egress)
		}
	}
}

// sampleCluster is a RayCluster of the samples, and the kind of manifest it comes from.
type sampleCluster struct {
	kind    string
	cluster *rayv1.RayCluster
}

// readClusters reads the RayClusters written as such in a samples file.
func readClusters(t *testing.T, path string) []*rayv1.RayCluster {
	var out []*rayv1.RayCluster
	for _, s := range readSampleClusters(t, path) {
		if s.kind == "RayCluster" {
			out = append(out, s.cluster)
		}
	}
	return out
}

// readSampleClusters reads the RayClusters of a samples file: each RayCluster,
// and the cluster each RayJob (as the RayJob controller builds it: a
// SidecarMode head carries the submitter), RayService and RayCronJob
// would create. A RayJob with clusterSelector creates none.
func readSampleClusters(t *testing.T, path string) []sampleCluster {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// Placeholders a sample tells its user to replace before applying it.
	data = bytes.ReplaceAll(data, []byte("$KSA_NAME"), []byte("ksa"))
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []sampleCluster
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("%s: %v", path, err)
		}
		kind, _ := doc["kind"].(string)
		if apiVersion, _ := doc["apiVersion"].(string); apiVersion != "ray.io/v1" {
			continue
		}
		raw, _ := yaml.Marshal(doc)
		strict := func(into any) {
			if err := yaml.UnmarshalStrict(raw, into); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
		fromJob := func(job *rayv1.RayJob) {
			if job.Spec.RayClusterSpec == nil {
				return
			}
			if job.Name == "" {
				job.Name = job.GenerateName + "sample"
			}
			c := desired.RayJobCluster(job, job.Name, "dashboard:8265")
			c.OwnerReferences = nil // the RayJob is not in the API server
			out = append(out, sampleCluster{kind, c})
		}
		switch kind {
		case "RayCluster":
			c := &rayv1.RayCluster{}
			strict(c)
			out = append(out, sampleCluster{kind, c})
		case "RayJob":
			job := &rayv1.RayJob{}
			strict(job)
			fromJob(job)
		case "RayCronJob":
			cron := &rayv1.RayCronJob{}
			strict(cron)
			fromJob(&rayv1.RayJob{ObjectMeta: cron.ObjectMeta, Spec: cron.Spec.JobTemplate})
		case "RayService":
			rs := &rayv1.RayService{}
			strict(rs)
			out = append(out, sampleCluster{kind, &rayv1.RayCluster{
				ObjectMeta: metav1.ObjectMeta{Name: rs.Name},
				Spec:       rs.Spec.RayClusterSpec,
			}})
		}
	}
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
