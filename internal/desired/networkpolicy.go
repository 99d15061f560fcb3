package desired

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/raystart"
)

// OperatorPodLabels select the operator's own pods: both the Helm chart
// (charts/goray-operator) and the kustomize manifests (config/manager) put
// them on the operator's pod template, whatever the release is called.
var OperatorPodLabels = map[string]string{
	"app.kubernetes.io/component": "operator",
	"app.kubernetes.io/part-of":   "goray",
}

// DNSPeer is the cluster DNS as kubeadm, kind, GKE, EKS and AKS deploy it
// (CoreDNS keeps kube-dns's k8s-app label): the pods reach the head by its
// Service's name, so a cluster that cannot resolve it never starts.
func DNSPeer() networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{
		NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: "kube-system"}},
		PodSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"k8s-app": "kube-dns"}},
	}
}

// NetworkPolicyOptions is what the policies need from the operator.
type NetworkPolicyOptions struct {
	// OperatorNamespace is where the operator's pods run: they are let in to
	// the dashboard (job and serve APIs) and the serve proxies (health
	// checks). "" (an operator outside the cluster, whose requests do not
	// come from a pod) leaves that rule out.
	OperatorNamespace string
}

// HeadNetworkPolicyName is <cluster>-head, KubeRay's name.
func HeadNetworkPolicyName(clusterName string) string { return clusterName + "-head" }

// WorkerNetworkPolicyName is <cluster>-workers-<group>, KubeRay's name. A
// group name that cannot be part of an object name (upper case, '_': legal
// in a label value) is lowered and dashed, with a hash of the original so
// two such groups never share a policy.
func WorkerNetworkPolicyName(clusterName, group string) string {
	name := clusterName + "-workers-" + group
	if len(validation.IsDNS1123Subdomain(name)) == 0 {
		return name
	}
	clean := strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		case r >= 'A' && r <= 'Z':
			return r - 'A' + 'a'
		}
		return '-'
	}, group)
	h := fnv.New32a()
	_, _ = h.Write([]byte(group))
	return fmt.Sprintf("%s-workers-%s-%08x", clusterName, clean, h.Sum32())
}

// NetworkPolicies are the policies spec.networkPolicy asks for: one for
// the head pod and one per worker group, none without it. Each selects its
// pods by the labels the operator forces on them, closes the directions of
// the mode, and lets through:
//   - ingress and egress among the cluster's own pods, on every port;
//   - ingress from the operator's pods (OperatorNamespace) to the head's
//     dashboard and every pod's serve proxy, the ports the operator calls;
//   - ingress to the head's dashboard from the K8sJobMode submitter pods of
//     the RayJob that owns the cluster;
//   - egress to the cluster DNS on port 53 (not added by KubeRay, whose
//     samples add it by hand);
//   - for a cluster of a RayService, ingress to every pod's serve proxy
//     from the namespace's Ray pods, and egress from its pods to their
//     serve proxies (on this cluster's serve ports): the active cluster's
//     proxies forward requests to the pending cluster's during an
//     incremental upgrade (not in KubeRay, whose Gateway does that);
//   - the user's rules: head rules on the head's policy, a workerGroups
//     entry's rules on its group's policy, else the worker rules.
func NetworkPolicies(c *rayv1.RayCluster, opts NetworkPolicyOptions) []*networkingv1.NetworkPolicy {
	np := c.Spec.NetworkPolicy
	if np == nil {
		return nil
	}
	ingress, egress := modeDirections(np.Mode)
	dashboard := dashboardPorts(c)

	headIngress := []networkingv1.NetworkPolicyIngressRule{intraClusterIngress(c)}
	if opts.OperatorNamespace != "" {
		headIngress = append(headIngress, operatorIngress(opts.OperatorNamespace, append(dashboard, proxyPorts(HeadStartParams(c))...)))
	}
	if job := owningRayJob(c); job != "" {
		headIngress = append(headIngress, networkingv1.NetworkPolicyIngressRule{
			From:  []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{MatchLabels: SubmitterPodSelector(job)}}},
			Ports: tcpPorts(dashboard),
		})
	}
	// A RayService's clusters forward requests to each other's serve
	// proxies during an incremental upgrade.
	serving := owningRayService(c) != ""
	var egressRules []networkingv1.NetworkPolicyEgressRule
	if serving {
		if ports := clusterProxyPorts(c); len(ports) > 0 {
			egressRules = append(egressRules, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{rayPodsPeer()}, Ports: tcpPorts(ports)})
		}
		if ports := proxyPorts(HeadStartParams(c)); len(ports) > 0 {
			headIngress = append(headIngress, rayPodsIngress(ports))
		}
	}
	out := []*networkingv1.NetworkPolicy{
		networkPolicy(c, HeadNetworkPolicyName(c.Name), nodeSelector(c.Name, rayv1.HeadNode, ""), rayv1.HeadGroupName,
			ingress, egress, headIngress, egressRules, np.Head),
	}
	for i := range c.Spec.WorkerGroupSpecs {
		group := c.Spec.WorkerGroupSpecs[i].GroupName
		workerIngress := []networkingv1.NetworkPolicyIngressRule{intraClusterIngress(c)}
		// A rule without ports would open every port: none when the proxy is off.
		ports := proxyPorts(WorkerStartParams(c, &c.Spec.WorkerGroupSpecs[i]))
		if opts.OperatorNamespace != "" && len(ports) > 0 {
			workerIngress = append(workerIngress, operatorIngress(opts.OperatorNamespace, ports))
		}
		if serving && len(ports) > 0 {
			workerIngress = append(workerIngress, rayPodsIngress(ports))
		}
		out = append(out, networkPolicy(c, WorkerNetworkPolicyName(c.Name, group), nodeSelector(c.Name, rayv1.WorkerNode, group), group,
			ingress, egress, workerIngress, egressRules, workerRules(np, group)))
	}
	return out
}

// owningRayService is the RayService that controls the cluster, "" when
// none does.
func owningRayService(c *rayv1.RayCluster) string {
	if ref := metav1.GetControllerOf(c); ref != nil && ref.Kind == "RayService" && strings.HasPrefix(ref.APIVersion, rayv1.GroupVersion.Group+"/") {
		return ref.Name
	}
	return ""
}

// rayPodsPeer selects the operator's Ray pods in the policy's namespace:
// the pods of a RayService's other cluster among them.
func rayPodsPeer() networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: map[string]string{
		rayv1.RayIsRayNodeLabelKey: "yes", rayv1.KubernetesCreatedByLabelKey: rayv1.ComponentName}}}
}

// rayPodsIngress lets the namespace's Ray pods in to a pod's serve proxy
// (ports): the serve port is the applications' open ingress anyway.
func rayPodsIngress(ports []int32) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{rayPodsPeer()}, Ports: tcpPorts(ports)}
}

// clusterProxyPorts are the serve proxy ports of the cluster's pods.
func clusterProxyPorts(c *rayv1.RayCluster) []int32 {
	ports := proxyPorts(HeadStartParams(c))
	for i := range c.Spec.WorkerGroupSpecs {
		ports = append(ports, proxyPorts(WorkerStartParams(c, &c.Spec.WorkerGroupSpecs[i]))...)
	}
	return ports
}

// nodeSelector selects a cluster's pods of one node type (and group), by
// labels the operator forces on them over the template's: KubeRay's selectors.
func nodeSelector(cluster string, nodeType rayv1.RayNodeType, group string) map[string]string {
	sel := map[string]string{rayv1.RayClusterLabelKey: cluster, rayv1.RayNodeTypeLabelKey: string(nodeType)}
	if group != "" {
		sel[rayv1.RayNodeGroupLabelKey] = group
	}
	return sel
}

// SubmitterPodSelector selects the pods of a RayJob's submitter Job (see SubmitterJob).
func SubmitterPodSelector(rayJob string) map[string]string {
	return map[string]string{
		rayv1.RayOriginatedFromCRNameKey: rayJob,
		rayv1.RayOriginatedFromCRDKey:    "RayJob",
	}
}

// modeDirections says which directions a mode closes; "" is the CRD's
// default, DenyAll.
func modeDirections(mode rayv1.NetworkPolicyMode) (ingress, egress bool) {
	switch mode {
	case rayv1.NetworkPolicyDenyAllIngress:
		return true, false
	case rayv1.NetworkPolicyDenyAllEgress:
		return false, true
	default:
		return true, true
	}
}

// workerRules are a group's own entry when it has one (it replaces the
// worker rules, as in KubeRay), else the worker rules.
func workerRules(np *rayv1.NetworkPolicyConfig, group string) *rayv1.NetworkPolicyRules {
	for i := range np.WorkerGroups {
		if np.WorkerGroups[i].GroupName == group {
			return &np.WorkerGroups[i].NetworkPolicyRules
		}
	}
	return np.Worker
}

func networkPolicy(c *rayv1.RayCluster, name string, selector map[string]string, group string,
	closeIngress, closeEgress bool, baseIngress []networkingv1.NetworkPolicyIngressRule, baseEgress []networkingv1.NetworkPolicyEgressRule,
	user *rayv1.NetworkPolicyRules,
) *networkingv1.NetworkPolicy {
	labels := objectLabels(c.Name)
	labels[rayv1.RayNodeGroupLabelKey] = group
	p := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       c.Namespace,
			Labels:          labels,
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: selector}},
	}
	if closeIngress {
		p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress)
		p.Spec.Ingress = baseIngress
		if user != nil {
			p.Spec.Ingress = append(p.Spec.Ingress, user.IngressRules...)
		}
	}
	if closeEgress {
		p.Spec.PolicyTypes = append(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress)
		p.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{
			{To: []networkingv1.NetworkPolicyPeer{clusterPeer(c)}},
			{To: []networkingv1.NetworkPolicyPeer{DNSPeer()}, Ports: dnsPorts()},
		}
		p.Spec.Egress = append(p.Spec.Egress, baseEgress...)
		if user != nil {
			p.Spec.Egress = append(p.Spec.Egress, user.EgressRules...)
		}
	}
	NormalizeNetworkPolicySpec(&p.Spec)
	return p
}

// NormalizeNetworkPolicySpec puts a spec in the form the API server stores
// it in — empty lists dropped, a port's protocol TCP when unset — so that
// a policy read back compares equal to the one built from the same spec
// and is not rewritten on every reconcile.
func NormalizeNetworkPolicySpec(spec *networkingv1.NetworkPolicySpec) {
	// A JSON round trip drops the empty lists, as the API server's storage does.
	if data, err := json.Marshal(spec); err == nil {
		normalized := networkingv1.NetworkPolicySpec{}
		if json.Unmarshal(data, &normalized) == nil {
			*spec = normalized
		}
	}
	tcp := corev1.ProtocolTCP
	for i := range spec.Ingress {
		for j := range spec.Ingress[i].Ports {
			if spec.Ingress[i].Ports[j].Protocol == nil {
				spec.Ingress[i].Ports[j].Protocol = &tcp
			}
		}
	}
	for i := range spec.Egress {
		for j := range spec.Egress[i].Ports {
			if spec.Egress[i].Ports[j].Protocol == nil {
				spec.Egress[i].Ports[j].Protocol = &tcp
			}
		}
	}
}

func clusterPeer(c *rayv1.RayCluster) networkingv1.NetworkPolicyPeer {
	return networkingv1.NetworkPolicyPeer{PodSelector: &metav1.LabelSelector{MatchLabels: ClusterSelector(c.Name)}}
}

// intraClusterIngress lets in every pod of the cluster, on every port: the
// runtime's ports (GCS, node managers, object transfer, workers) are many
// and partly chosen at run time.
func intraClusterIngress(c *rayv1.RayCluster) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{clusterPeer(c)}}
}

// operatorIngress lets in the operator's pods, and only from its namespace:
// pods elsewhere with the same labels are not the operator.
func operatorIngress(namespace string, ports []int32) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{
		From: []networkingv1.NetworkPolicyPeer{{
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: namespace}},
			PodSelector:       &metav1.LabelSelector{MatchLabels: OperatorPodLabels},
		}},
		Ports: tcpPorts(ports),
	}
}

// owningRayJob is the RayJob that controls the cluster, "" when none does
// (a RayJob with clusterSelector does not own its cluster: its submitter
// needs a head ingress rule of the user's).
func owningRayJob(c *rayv1.RayCluster) string {
	if ref := metav1.GetControllerOf(c); ref != nil && ref.Kind == "RayJob" && strings.HasPrefix(ref.APIVersion, rayv1.GroupVersion.Group+"/") {
		return ref.Name
	}
	return ""
}

// dashboardPorts are the ports the head's dashboard is reached on: the one
// it listens on (rayStartParams dashboard-port) and, when it differs, the
// head container's port named dashboard, which the operator dials.
func dashboardPorts(c *rayv1.RayCluster) []int32 {
	listen := int32(rayv1.DashboardPort)
	if p, ok, err := raystart.Port(c.Spec.HeadGroupSpec.RayStartParams, "dashboard-port"); ok && err == nil && p > 0 {
		listen = p
	}
	ports := []int32{listen}
	if declared := headContainerPort(c, rayv1.DashboardPortName, listen); declared != listen && declared > 0 {
		ports = append(ports, declared)
	}
	return ports
}

// proxyPorts is the port of a node's serve HTTP proxy, which the operator
// checks for the ray.io/serve label (none when the proxy is off).
func proxyPorts(params map[string]string) []int32 {
	if p := raystart.ServePort(params); p > 0 {
		return []int32{p}
	}
	return nil
}

func tcpPorts(ports []int32) []networkingv1.NetworkPolicyPort {
	tcp := corev1.ProtocolTCP
	out := make([]networkingv1.NetworkPolicyPort, 0, len(ports))
	seen := map[int32]bool{}
	for _, p := range ports {
		if seen[p] {
			continue
		}
		seen[p] = true
		port := intstr.FromInt32(p)
		out = append(out, networkingv1.NetworkPolicyPort{Protocol: &tcp, Port: &port})
	}
	return out
}

func dnsPorts() []networkingv1.NetworkPolicyPort {
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	port := intstr.FromInt32(53)
	return []networkingv1.NetworkPolicyPort{{Protocol: &udp, Port: &port}, {Protocol: &tcp, Port: &port}}
}
