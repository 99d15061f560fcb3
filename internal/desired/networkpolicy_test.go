package desired

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// npCluster is testCluster with a second worker group and networkPolicy set.
func npCluster(mode rayv1.NetworkPolicyMode) *rayv1.RayCluster {
	c := testCluster()
	big := c.Spec.WorkerGroupSpecs[0].DeepCopy()
	big.GroupName = "big"
	c.Spec.WorkerGroupSpecs = append(c.Spec.WorkerGroupSpecs, *big)
	c.Spec.NetworkPolicy = &rayv1.NetworkPolicyConfig{Mode: mode}
	return c
}

func policyByName(t *testing.T, ps []*networkingv1.NetworkPolicy, name string) *networkingv1.NetworkPolicy {
	t.Helper()
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	names := make([]string, 0, len(ps))
	for _, p := range ps {
		names = append(names, p.Name)
	}
	t.Fatalf("no NetworkPolicy %s among %v", name, names)
	return nil
}

func ingressFrom(selector map[string]string) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: selector}}}}
}

func tcp(ports ...int32) []networkingv1.NetworkPolicyPort {
	out := []networkingv1.NetworkPolicyPort{}
	for _, p := range ports {
		port := intstr.FromInt32(p)
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: ptr.To(corev1.ProtocolTCP), Port: &port})
	}
	return out
}

func operatorRule(ns string, ports ...int32) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{
		From: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: ns}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: OperatorPodLabels},
		}},
		Ports: tcp(ports...),
	}
}

func baseEgress(cluster string) []networkingv1.NetworkPolicyEgressRule {
	udp := corev1.ProtocolUDP
	dns := intstr.FromInt32(53)
	return []networkingv1.NetworkPolicyEgressRule{
		{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{rayv1.RayClusterLabelKey: cluster}}}}},
		{To: []networkingv1.NetworkPolicyPeer{DNSPeer()}, Ports: []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &dns}, tcp(53)[0]}},
	}
}

func TestNetworkPoliciesNoneWithoutTheField(t *testing.T) {
	if got := NetworkPolicies(testCluster(), NetworkPolicyOptions{OperatorNamespace: "goray-system"}); got != nil {
		t.Fatalf("policies without spec.networkPolicy: %v", got)
	}
}

// TestNetworkPoliciesShape checks the objects of every mode: KubeRay's
// names, labels and pod selectors, the owner, the policy types of the mode,
// and the base rules of each direction it closes.
func TestNetworkPoliciesShape(t *testing.T) {
	opts := NetworkPolicyOptions{OperatorNamespace: "goray-system"}
	head := []networkingv1.NetworkPolicyIngressRule{
		ingressFrom(map[string]string{rayv1.RayClusterLabelKey: "demo"}),
		operatorRule("goray-system", 8265, 8000),
	}
	worker := []networkingv1.NetworkPolicyIngressRule{
		ingressFrom(map[string]string{rayv1.RayClusterLabelKey: "demo"}),
		operatorRule("goray-system", 8000),
	}
	tests := []struct {
		mode       rayv1.NetworkPolicyMode
		types      []networkingv1.PolicyType
		hasIngress bool
		hasEgress  bool
	}{
		{"", []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, true, true},
		{rayv1.NetworkPolicyDenyAll, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}, true, true},
		{rayv1.NetworkPolicyDenyAllIngress, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, true, false},
		{rayv1.NetworkPolicyDenyAllEgress, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}, false, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			c := npCluster(tt.mode)
			ps := NetworkPolicies(c, opts)
			if len(ps) != 3 {
				t.Fatalf("want a head policy and one per worker group (3), got %d", len(ps))
			}
			selectors := map[string]map[string]string{
				"demo-head":          {rayv1.RayClusterLabelKey: "demo", rayv1.RayNodeTypeLabelKey: "head"},
				"demo-workers-small": {rayv1.RayClusterLabelKey: "demo", rayv1.RayNodeTypeLabelKey: "worker", rayv1.RayNodeGroupLabelKey: "small"},
				"demo-workers-big":   {rayv1.RayClusterLabelKey: "demo", rayv1.RayNodeTypeLabelKey: "worker", rayv1.RayNodeGroupLabelKey: "big"},
			}
			for name, sel := range selectors {
				p := policyByName(t, ps, name)
				if p.Namespace != "ns1" {
					t.Errorf("%s: namespace %q", name, p.Namespace)
				}
				if !reflect.DeepEqual(p.Spec.PodSelector, metav1.LabelSelector{MatchLabels: sel}) {
					t.Errorf("%s: pod selector %v, want %v", name, p.Spec.PodSelector, sel)
				}
				if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != c.UID || ref.Kind != "RayCluster" {
					t.Errorf("%s: owner %v, want the RayCluster as controller", name, p.OwnerReferences)
				}
				if p.Labels[rayv1.RayClusterLabelKey] != "demo" || p.Labels[rayv1.KubernetesCreatedByLabelKey] != rayv1.ComponentName {
					t.Errorf("%s: labels %v lack the cluster and created-by (the operator's cache is scoped on it)", name, p.Labels)
				}
				if !reflect.DeepEqual(p.Spec.PolicyTypes, tt.types) {
					t.Errorf("%s: policy types %v, want %v", name, p.Spec.PolicyTypes, tt.types)
				}
				wantIngress := worker
				if name == "demo-head" {
					wantIngress = head
				}
				if !tt.hasIngress {
					wantIngress = nil
				}
				if !reflect.DeepEqual(p.Spec.Ingress, wantIngress) {
					t.Errorf("%s: ingress\n got %+v\nwant %+v", name, p.Spec.Ingress, wantIngress)
				}
				var wantEgress []networkingv1.NetworkPolicyEgressRule
				if tt.hasEgress {
					wantEgress = baseEgress("demo")
				}
				if !reflect.DeepEqual(p.Spec.Egress, wantEgress) {
					t.Errorf("%s: egress\n got %+v\nwant %+v", name, p.Spec.Egress, wantEgress)
				}
			}
			if g := policyByName(t, ps, "demo-workers-big").Labels[rayv1.RayNodeGroupLabelKey]; g != "big" {
				t.Errorf("worker policy group label %q", g)
			}
		})
	}
}

// TestNetworkPoliciesUserRules: head rules go to the head only, worker
// rules to every group without its own entry, a workerGroups entry
// replaces the worker rules for its group; rules of a direction the mode
// leaves open are dropped.
func TestNetworkPoliciesUserRules(t *testing.T) {
	prom := networkingv1.NetworkPolicyIngressRule{
		From:  []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "prometheus"}}}},
		Ports: tcp(8080),
	}
	https := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "0.0.0.0/0"}}}, Ports: tcp(443)}
	redis := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.1.2.3/32"}}}, Ports: tcp(6379)}
	s3 := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "52.0.0.0/8"}}}}
	c := npCluster(rayv1.NetworkPolicyDenyAll)
	c.Spec.NetworkPolicy.Head = &rayv1.NetworkPolicyRules{IngressRules: []networkingv1.NetworkPolicyIngressRule{prom}, EgressRules: []networkingv1.NetworkPolicyEgressRule{redis}}
	c.Spec.NetworkPolicy.Worker = &rayv1.NetworkPolicyRules{EgressRules: []networkingv1.NetworkPolicyEgressRule{https}}
	c.Spec.NetworkPolicy.WorkerGroups = []rayv1.WorkerGroupNetworkPolicyRules{
		{GroupName: "big", NetworkPolicyRules: rayv1.NetworkPolicyRules{EgressRules: []networkingv1.NetworkPolicyEgressRule{s3}}},
		{GroupName: "absent"},
	}
	ps := NetworkPolicies(c, NetworkPolicyOptions{})

	headP := policyByName(t, ps, "demo-head")
	if got := headP.Spec.Ingress[len(headP.Spec.Ingress)-1]; !reflect.DeepEqual(got, prom) {
		t.Errorf("head ingress ends with %+v, want the user's rule", got)
	}
	if got := headP.Spec.Egress; !reflect.DeepEqual(got, append(baseEgress("demo"), redis)) {
		t.Errorf("head egress %+v", got)
	}
	small := policyByName(t, ps, "demo-workers-small")
	if got := small.Spec.Egress; !reflect.DeepEqual(got, append(baseEgress("demo"), https)) {
		t.Errorf("small (worker rules) egress %+v", got)
	}
	big := policyByName(t, ps, "demo-workers-big")
	if got := big.Spec.Egress; !reflect.DeepEqual(got, append(baseEgress("demo"), s3)) {
		t.Errorf("big (own entry, replacing the worker rules) egress %+v", got)
	}
	for _, p := range []*networkingv1.NetworkPolicy{small, big} {
		if len(p.Spec.Ingress) != 1 {
			t.Errorf("%s: head ingress rules reached a worker: %+v", p.Name, p.Spec.Ingress)
		}
	}
	if len(ps) != 3 {
		t.Errorf("an entry for a group that does not exist made a policy: %d policies", len(ps))
	}

	c.Spec.NetworkPolicy.Mode = rayv1.NetworkPolicyDenyAllIngress
	ps = NetworkPolicies(c, NetworkPolicyOptions{})
	if p := policyByName(t, ps, "demo-head"); p.Spec.Egress != nil {
		t.Errorf("DenyAllIngress kept egress rules: %+v", p.Spec.Egress)
	}
	c.Spec.NetworkPolicy.Mode = rayv1.NetworkPolicyDenyAllEgress
	ps = NetworkPolicies(c, NetworkPolicyOptions{})
	if p := policyByName(t, ps, "demo-head"); p.Spec.Ingress != nil {
		t.Errorf("DenyAllEgress kept ingress rules: %+v", p.Spec.Ingress)
	}
}

// TestNetworkPoliciesOperatorAndSubmitter: the operator is let in only from
// its namespace and only when it has one; the submitter of the RayJob that
// controls the cluster reaches the dashboard, on the port it listens on.
func TestNetworkPoliciesOperatorAndSubmitter(t *testing.T) {
	c := npCluster(rayv1.NetworkPolicyDenyAll)
	for _, p := range NetworkPolicies(c, NetworkPolicyOptions{}) {
		if len(p.Spec.Ingress) != 1 {
			t.Errorf("%s: without an operator namespace only the intra-cluster rule is expected, got %+v", p.Name, p.Spec.Ingress)
		}
	}

	c.Spec.HeadGroupSpec.RayStartParams["dashboard-port"] = "9265"
	c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "ray.io/v1", Kind: "RayJob", Name: "train", UID: "job-uid", Controller: ptr.To(true)}}
	head := policyByName(t, NetworkPolicies(c, NetworkPolicyOptions{OperatorNamespace: "ops"}), "demo-head")
	want := []networkingv1.NetworkPolicyIngressRule{
		ingressFrom(map[string]string{rayv1.RayClusterLabelKey: "demo"}),
		operatorRule("ops", 9265, 8000),
		{From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
			rayv1.RayOriginatedFromCRNameKey: "train", rayv1.RayOriginatedFromCRDKey: "RayJob",
		}}}}, Ports: tcp(9265)},
	}
	if !reflect.DeepEqual(head.Spec.Ingress, want) {
		t.Errorf("head ingress\n got %+v\nwant %+v", head.Spec.Ingress, want)
	}

	// A RayJob that only owns (does not control) the cluster, or another
	// group's RayJob kind, lets no submitter in.
	c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "example.com/v1", Kind: "RayJob", Name: "x", UID: "u", Controller: ptr.To(true)}}
	if head := policyByName(t, NetworkPolicies(c, NetworkPolicyOptions{}), "demo-head"); len(head.Spec.Ingress) != 1 {
		t.Errorf("a foreign RayJob kind got a submitter rule: %+v", head.Spec.Ingress)
	}
}

// TestNetworkPolicyNormalized: a policy built from rules without a
// protocol or with empty lists is already in the form the API server
// stores, so comparing it with what is read back finds no change.
func TestNetworkPolicyNormalized(t *testing.T) {
	c := npCluster(rayv1.NetworkPolicyDenyAll)
	port := intstr.FromInt32(8080)
	c.Spec.NetworkPolicy.Head = &rayv1.NetworkPolicyRules{IngressRules: []networkingv1.NetworkPolicyIngressRule{
		{From: []networkingv1.NetworkPolicyPeer{}, Ports: []networkingv1.NetworkPolicyPort{{Port: &port}}},
	}}
	head := policyByName(t, NetworkPolicies(c, NetworkPolicyOptions{}), "demo-head")
	got := head.Spec.Ingress[len(head.Spec.Ingress)-1]
	if got.From != nil {
		t.Errorf("empty from list kept: %#v", got.From)
	}
	if got.Ports[0].Protocol == nil || *got.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("protocol not defaulted to TCP: %+v", got.Ports[0])
	}
	if c.Spec.NetworkPolicy.Head.IngressRules[0].Ports[0].Protocol != nil {
		t.Error("the cluster's spec was changed")
	}
}

func TestWorkerNetworkPolicyName(t *testing.T) {
	if got := WorkerNetworkPolicyName("demo", "gpu-group"); got != "demo-workers-gpu-group" {
		t.Errorf("legal group: %q", got)
	}
	a, b := WorkerNetworkPolicyName("demo", "GPU_group"), WorkerNetworkPolicyName("demo", "gpu-group_")
	for _, n := range []string{a, b} {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			t.Errorf("%q is not an object name: %v", n, errs)
		}
		if !strings.HasPrefix(n, "demo-workers-gpu-group") {
			t.Errorf("%q does not say which group", n)
		}
	}
	if a == b || slices.Contains([]string{a, b}, "demo-workers-gpu-group") {
		t.Errorf("names collide: %q %q", a, b)
	}
}

// TestNetworkPoliciesServePorts: the operator reaches each node's serve
// proxy on the port it listens on (the container's serve port, a worker
// without one on the head's), and a worker whose proxy is off gets no
// operator rule (a rule without ports would open every port).
func TestNetworkPoliciesServePorts(t *testing.T) {
	c := npCluster(rayv1.NetworkPolicyDenyAll)
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000}}
	c.Spec.WorkerGroupSpecs[1].RayStartParams = map[string]string{"serve-port": "0"}
	ps := NetworkPolicies(c, NetworkPolicyOptions{OperatorNamespace: "ops"})
	intra := ingressFrom(map[string]string{rayv1.RayClusterLabelKey: "demo"})
	for name, want := range map[string][]networkingv1.NetworkPolicyIngressRule{
		"demo-head":          {intra, operatorRule("ops", 8265, 9000)},
		"demo-workers-small": {intra, operatorRule("ops", 9000)},
		"demo-workers-big":   {intra},
	} {
		if got := policyByName(t, ps, name).Spec.Ingress; !reflect.DeepEqual(got, want) {
			t.Errorf("%s ingress\n got %+v\nwant %+v", name, got, want)
		}
	}
}

// A RayService's cluster lets the namespace's Ray pods in to its serve
// proxies and may reach theirs: the active cluster's proxies forward
// requests to the pending cluster's during an incremental upgrade. A
// standalone cluster does not.
func TestNetworkPoliciesOfARayServiceCluster(t *testing.T) {
	rayPods := map[string]string{rayv1.RayIsRayNodeLabelKey: "yes", rayv1.KubernetesCreatedByLabelKey: rayv1.ComponentName}
	serveIn := networkingv1.NetworkPolicyIngressRule{From: ingressFrom(rayPods).From, Ports: tcp(8000)}
	serveOut := networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: rayPods}}}, Ports: tcp(8000)}

	c := npCluster(rayv1.NetworkPolicyDenyAll)
	c.OwnerReferences = []metav1.OwnerReference{{APIVersion: "ray.io/v1", Kind: "RayService", Name: "svc", UID: "u", Controller: ptr.To(true)}}
	ps := NetworkPolicies(c, NetworkPolicyOptions{})
	for _, name := range []string{HeadNetworkPolicyName(c.Name), WorkerNetworkPolicyName(c.Name, "big")} {
		p := policyByName(t, ps, name)
		if !slices.ContainsFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool { return reflect.DeepEqual(r, serveIn) }) {
			t.Errorf("%s: no ingress from the Ray pods to the serve port: %+v", name, p.Spec.Ingress)
		}
		if !slices.ContainsFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool { return reflect.DeepEqual(r, serveOut) }) {
			t.Errorf("%s: no egress to the Ray pods' serve port: %+v", name, p.Spec.Egress)
		}
	}
	c.OwnerReferences = nil
	for _, p := range NetworkPolicies(c, NetworkPolicyOptions{}) {
		if slices.ContainsFunc(p.Spec.Ingress, func(r networkingv1.NetworkPolicyIngressRule) bool { return reflect.DeepEqual(r, serveIn) }) ||
			slices.ContainsFunc(p.Spec.Egress, func(r networkingv1.NetworkPolicyEgressRule) bool { return reflect.DeepEqual(r, serveOut) }) {
			t.Errorf("%s: a standalone cluster opens its serve port to other clusters", p.Name)
		}
	}
}
