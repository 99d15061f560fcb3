package raycluster_test

import (
	"context"
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/raycluster"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/operator"
	"github.com/goray-dev/goray/internal/testenv"
)

// The envtest API server stores NetworkPolicies but nothing enforces them
// (no CNI): these tests check the objects, not the traffic.

const netpolOperatorNamespace = "goray-system"

// startNetpolOperator runs an operator that knows its namespace, in a
// namespace of its own.
func startNetpolOperator(t *testing.T, ctx context.Context) string {
	t.Helper()
	ns, err := env.Namespace(ctx, "netpol")
	if err != nil {
		t.Fatal(err)
	}
	stop, err := startOperator(ctx, []string{ns}, func(o *operator.Options) { o.OperatorNamespace = netpolOperatorNamespace })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ns
}

// clusterPolicies are the NetworkPolicies labelled with the cluster, by name.
func clusterPolicies(ctx context.Context, ns, cluster string) (map[string]*networkingv1.NetworkPolicy, error) {
	list := &networkingv1.NetworkPolicyList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns), client.MatchingLabels{rayv1.RayClusterLabelKey: cluster}); err != nil {
		return nil, err
	}
	out := map[string]*networkingv1.NetworkPolicy{}
	for i := range list.Items {
		if list.Items[i].DeletionTimestamp.IsZero() {
			out[list.Items[i].Name] = &list.Items[i]
		}
	}
	return out, nil
}

func policyNames(ps map[string]*networkingv1.NetworkPolicy) []string {
	out := make([]string, 0, len(ps))
	for n := range ps {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// waitForPolicies waits until the cluster's policies are exactly names and
// cond holds for them, and returns them.
func waitForPolicies(t *testing.T, ctx context.Context, ns, cluster string, names []string, cond func(map[string]*networkingv1.NetworkPolicy) bool) map[string]*networkingv1.NetworkPolicy {
	t.Helper()
	sort.Strings(names)
	var got map[string]*networkingv1.NetworkPolicy
	eventually(t, fmt.Sprintf("NetworkPolicies %v", names), func() (bool, error) {
		var err error
		if got, err = clusterPolicies(ctx, ns, cluster); err != nil {
			return false, err
		}
		return slices.Equal(policyNames(got), names) && (cond == nil || cond(got)), nil
	})
	return got
}

func hasOperatorRule(p *networkingv1.NetworkPolicy, ports ...int32) bool {
	want := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	for _, port := range ports {
		want = append(want, networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(intstr.FromInt32(port))})
	}
	return slices.ContainsFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool {
		return len(r.From) == 1 && r.From[0].NamespaceSelector != nil &&
			reflect.DeepEqual(r.From[0].NamespaceSelector.MatchLabels, map[string]string{corev1.LabelMetadataName: netpolOperatorNamespace}) &&
			reflect.DeepEqual(r.From[0].PodSelector.MatchLabels, desired.OperatorPodLabels) &&
			reflect.DeepEqual(r.Ports, want)
	})
}

func egressTo(p *networkingv1.NetworkPolicy, cidr string) bool {
	return slices.ContainsFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool {
		return len(r.To) == 1 && r.To[0].IPBlock != nil && r.To[0].IPBlock.CIDR == cidr
	})
}

func cidrEgress(cidr string) networkingv1.NetworkPolicyEgressRule {
	return networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}}}
}

// TestNetworkPoliciesFollowTheSpec creates a DenyAll cluster with head,
// worker and per-group rules and checks the policies KubeRay would make
// (plus the operator's ingress), then follows edits: another mode, a group
// added and one removed, a per-group entry, and the field removed.
func TestNetworkPoliciesFollowTheSpec(t *testing.T) {
	ctx := context.Background()
	ns := startNetpolOperator(t, ctx)
	c := newCluster(ns, "np", workerGroup("small", 1, 0, 3), workerGroup("big", 1, 0, 3))
	c.Spec.NetworkPolicy = &rayv1.NetworkPolicyConfig{
		Head:   &rayv1.NetworkPolicyRules{EgressRules: []networkingv1.NetworkPolicyEgressRule{cidrEgress("10.9.0.1/32")}},
		Worker: &rayv1.NetworkPolicyRules{EgressRules: []networkingv1.NetworkPolicyEgressRule{cidrEgress("0.0.0.0/0")}},
		WorkerGroups: []rayv1.WorkerGroupNetworkPolicyRules{{GroupName: "big", NetworkPolicyRules: rayv1.NetworkPolicyRules{
			EgressRules: []networkingv1.NetworkPolicyEgressRule{cidrEgress("52.0.0.0/8")}}}},
	}
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	got, err := getCluster(ctx, ns, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NetworkPolicy.Mode != rayv1.NetworkPolicyDenyAll {
		t.Errorf("mode defaulted to %q, want DenyAll", got.Spec.NetworkPolicy.Mode)
	}

	ps := waitForPolicies(t, ctx, ns, c.Name, []string{"np-head", "np-workers-small", "np-workers-big"}, nil)
	waitForCounts(t, ctx, ns, c.Name, 2)
	head, small, big := ps["np-head"], ps["np-workers-small"], ps["np-workers-big"]
	if want := map[string]string{rayv1.RayClusterLabelKey: "np", rayv1.RayNodeTypeLabelKey: "head"}; !reflect.DeepEqual(head.Spec.PodSelector.MatchLabels, want) {
		t.Errorf("head policy selects %v, want %v", head.Spec.PodSelector.MatchLabels, want)
	}
	if want := map[string]string{rayv1.RayClusterLabelKey: "np", rayv1.RayNodeTypeLabelKey: "worker", rayv1.RayNodeGroupLabelKey: "big"}; !reflect.DeepEqual(big.Spec.PodSelector.MatchLabels, want) {
		t.Errorf("big policy selects %v, want %v", big.Spec.PodSelector.MatchLabels, want)
	}
	// The selectors select the pods the operator made.
	all, err := pods(ctx, ns, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		n := 0
		for _, np := range ps {
			sel, _ := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if sel.Matches(labels.Set(p.Labels)) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("pod %s (%v) is selected by %d policies, want 1", p.Name, p.Labels[rayv1.RayNodeGroupLabelKey], n)
		}
	}
	for _, p := range ps {
		if !reflect.DeepEqual(p.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
			t.Errorf("%s: policy types %v", p.Name, p.Spec.PolicyTypes)
		}
		if !metav1.IsControlledBy(p, got) {
			t.Errorf("%s: owners %v, want the RayCluster", p.Name, p.OwnerReferences)
		}
		if r := p.Spec.Ingress[0]; len(r.From) != 1 || !reflect.DeepEqual(r.From[0].PodSelector.MatchLabels, map[string]string{rayv1.RayClusterLabelKey: "np"}) || r.Ports != nil {
			t.Errorf("%s: first ingress rule is not the intra-cluster one: %+v", p.Name, r)
		}
	}
	if !hasOperatorRule(head, 8265, 8000) {
		t.Errorf("head policy does not let the operator reach the dashboard and serve ports: %+v", head.Spec.Ingress)
	}
	if !hasOperatorRule(small, 8000) {
		t.Errorf("worker policy does not let the operator reach the serve proxy: %+v", small.Spec.Ingress)
	}
	if !egressTo(head, "10.9.0.1/32") || egressTo(head, "0.0.0.0/0") {
		t.Errorf("head egress should hold the head rule only: %+v", head.Spec.Egress)
	}
	if !egressTo(small, "0.0.0.0/0") || egressTo(small, "52.0.0.0/8") {
		t.Errorf("small egress should hold the worker rule: %+v", small.Spec.Egress)
	}
	if !egressTo(big, "52.0.0.0/8") || egressTo(big, "0.0.0.0/0") {
		t.Errorf("big egress should hold its own entry instead of the worker rule: %+v", big.Spec.Egress)
	}

	// DenyAllIngress, the group big removed and gpu added, small given an entry.
	if err := patchCluster(ctx, ns, c.Name, func(c *rayv1.RayCluster) {
		c.Spec.NetworkPolicy.Mode = rayv1.NetworkPolicyDenyAllIngress
		c.Spec.WorkerGroupSpecs = []rayv1.WorkerGroupSpec{c.Spec.WorkerGroupSpecs[0], workerGroup("gpu", 0, 0, 2)}
		c.Spec.NetworkPolicy.Head.IngressRules = []networkingv1.NetworkPolicyIngressRule{{
			From: []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "prometheus"}}}},
		}}
	}); err != nil {
		t.Fatal(err)
	}
	waitForPolicies(t, ctx, ns, c.Name, []string{"np-head", "np-workers-small", "np-workers-gpu"}, func(ps map[string]*networkingv1.NetworkPolicy) bool {
		for _, p := range ps {
			if !reflect.DeepEqual(p.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || p.Spec.Egress != nil {
				return false
			}
		}
		h := ps["np-head"]
		last := h.Spec.Ingress[len(h.Spec.Ingress)-1]
		return len(last.From) == 1 && last.From[0].NamespaceSelector != nil &&
			last.From[0].NamespaceSelector.MatchLabels[corev1.LabelMetadataName] == "prometheus"
	})

	// An edit the operator's policy does not know about is put back.
	if err := patchPolicy(ctx, ns, "np-workers-small", func(p *networkingv1.NetworkPolicy) { p.Spec.Ingress = nil }); err != nil {
		t.Fatal(err)
	}
	waitForPolicies(t, ctx, ns, c.Name, []string{"np-head", "np-workers-small", "np-workers-gpu"}, func(ps map[string]*networkingv1.NetworkPolicy) bool {
		return len(ps["np-workers-small"].Spec.Ingress) == 2
	})

	// Without networkPolicy the policies go; the pods stay.
	before, err := pods(ctx, ns, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := patchCluster(ctx, ns, c.Name, func(c *rayv1.RayCluster) { c.Spec.NetworkPolicy = nil }); err != nil {
		t.Fatal(err)
	}
	waitForPolicies(t, ctx, ns, c.Name, nil, nil)
	after, err := pods(ctx, ns, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names(before), names(after)) {
		t.Errorf("removing networkPolicy changed the pods: %v, then %v", names(before), names(after))
	}
}

func patchPolicy(ctx context.Context, ns, name string, change func(*networkingv1.NetworkPolicy)) error {
	p := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, p); err != nil {
		return err
	}
	before := p.DeepCopy()
	change(p)
	return k8s.Patch(ctx, p, client.MergeFrom(before))
}

// TestNetworkPolicyConflictHoldsThePods: a NetworkPolicy by the head
// policy's name that is not the cluster's is left alone, the cluster
// reports it, and no pod starts unprotected; once it is gone the
// cluster's own policy is made and the pods follow.
func TestNetworkPolicyConflictHoldsThePods(t *testing.T) {
	ctx := context.Background()
	ns := startNetpolOperator(t, ctx)
	theirs := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "taken-head"},
		Spec:       networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}}},
	}
	if err := k8s.Create(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	c := newCluster(ns, "taken", workerGroup("small", 1, 0, 3))
	c.Spec.NetworkPolicy = &rayv1.NetworkPolicyConfig{Mode: rayv1.NetworkPolicyDenyAllIngress}
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ReplicaFailure NetworkPolicyConflict", func() (bool, error) {
		got, err := getCluster(ctx, ns, c.Name)
		if err != nil {
			return false, err
		}
		f := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure))
		return f != nil && f.Reason == raycluster.NetworkPolicyConflict, nil
	})
	if all, err := pods(ctx, ns, c.Name); err != nil || len(all) != 0 {
		t.Fatalf("pods created while the head's policy is someone else's: %v %v", names(all), err)
	}
	kept := &networkingv1.NetworkPolicy{}
	if err := k8s.Get(ctx, client.ObjectKeyFromObject(theirs), kept); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(kept.Spec, theirs.Spec) || len(kept.OwnerReferences) != 0 {
		t.Errorf("the other NetworkPolicy was changed: %+v %v", kept.Spec, kept.OwnerReferences)
	}

	if err := k8s.Delete(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	waitForPolicies(t, ctx, ns, c.Name, []string{"taken-head", "taken-workers-small"}, func(ps map[string]*networkingv1.NetworkPolicy) bool {
		return ps["taken-head"].Spec.PodSelector.MatchLabels[rayv1.RayClusterLabelKey] == "taken"
	})
	waitForCounts(t, ctx, ns, c.Name, 1)
}

// TestKubeRayNetworkPolicySample applies KubeRay's
// ray-cluster.network-policy-deny-all.yaml and checks the policies hold
// its DNS rules, with the operator's rule added.
func TestKubeRayNetworkPolicySample(t *testing.T) {
	ctx := context.Background()
	ns := startNetpolOperator(t, ctx)
	cs := readClusters(t, filepath.Join(testenv.RepoRoot(), "api", "v1", "testdata", "kuberay-samples", "ray-cluster.network-policy-deny-all.yaml"))
	if len(cs) != 1 {
		t.Fatalf("%d RayClusters in the sample", len(cs))
	}
	c := cs[0]
	c.Namespace = ns
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatalf("the sample is refused: %v", err)
	}
	dns := c.Spec.NetworkPolicy.Head.EgressRules[0]
	ps := waitForPolicies(t, ctx, ns, c.Name, []string{"raycluster-deny-all-head", "raycluster-deny-all-workers-workergroup"}, nil)
	for _, p := range ps {
		if !slices.ContainsFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool { return reflect.DeepEqual(r, dns) }) {
			t.Errorf("%s lacks the sample's DNS rule: %+v", p.Name, p.Spec.Egress)
		}
	}
	if !hasOperatorRule(ps["raycluster-deny-all-head"], 8265, 8000) {
		t.Errorf("head policy lacks the operator's rule: %+v", ps["raycluster-deny-all-head"].Spec.Ingress)
	}
	waitForCounts(t, ctx, ns, c.Name, 1)
	// Deleting the cluster takes its policies along (owner references; the
	// envtest API server has no garbage collector, so check the owner).
	got, err := getCluster(ctx, ns, c.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !metav1.IsControlledBy(p, got) {
			t.Errorf("%s is not owned by the cluster: %v", p.Name, p.OwnerReferences)
		}
	}
	if err := k8s.Delete(ctx, got); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}
