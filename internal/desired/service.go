package desired

import (
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// HeadService is the Service in front of the head pod. It is headless for
// the default ClusterIP type (KubeRay's default), so the name resolves to the
// pod IP; serviceType NodePort or LoadBalancer gives a virtual IP. A
// headService override contributes its name, labels, annotations, ports and
// other spec fields; the selector is always ours.
func HeadService(c *rayv1.RayCluster) *corev1.Service {
	svc := &corev1.Service{}
	if c.Spec.HeadGroupSpec.HeadService != nil {
		svc = c.Spec.HeadGroupSpec.HeadService.DeepCopy()
		svc.Status = corev1.ServiceStatus{}
		svc.ResourceVersion, svc.UID, svc.CreationTimestamp = "", "", metav1.Time{}
	}
	svc.Name = HeadServiceName(c)
	svc.Namespace = c.Namespace
	svc.Labels = mergeLabels(svc.Labels, objectLabels(c.Name))
	svc.Labels[rayv1.RayNodeTypeLabelKey] = string(rayv1.HeadNode)
	svc.Labels[rayv1.RayIDLabelKey] = c.Name + "-" + string(rayv1.HeadNode)
	if len(c.Spec.HeadServiceAnnotations) > 0 {
		if svc.Annotations == nil {
			svc.Annotations = map[string]string{}
		}
		maps.Copy(svc.Annotations, c.Spec.HeadServiceAnnotations)
	}
	svc.OwnerReferences = []metav1.OwnerReference{OwnerReference(c)}
	svc.Spec.Selector = HeadSelector(c.Name)
	if len(svc.Spec.Ports) == 0 {
		svc.Spec.Ports = headServicePorts(c)
	}
	switch {
	case c.Spec.HeadGroupSpec.ServiceType != "":
		svc.Spec.Type = c.Spec.HeadGroupSpec.ServiceType
	case svc.Spec.Type == "":
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	if svc.Spec.Type == corev1.ServiceTypeClusterIP && svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP = corev1.ClusterIPNone
		// Workers must resolve the head before it is ready, or they cannot join.
		svc.Spec.PublishNotReadyAddresses = true
	}
	return svc
}

// headServicePorts are the named ports of the head container, or the defaults.
func headServicePorts(c *rayv1.RayCluster) []corev1.ServicePort {
	var container []corev1.ContainerPort
	if cs := c.Spec.HeadGroupSpec.Template.Spec.Containers; len(cs) > 0 {
		container = slices.Clone(cs[0].Ports)
	}
	probe := corev1.Container{Ports: container}
	addDefaultPorts(&probe, headPorts(c.Spec.HeadGroupSpec.RayStartParams))
	out := make([]corev1.ServicePort, 0, len(probe.Ports))
	for _, p := range probe.Ports {
		if p.Name == "" {
			continue // a Service with several ports needs every port named
		}
		proto := p.Protocol
		if proto == "" {
			proto = corev1.ProtocolTCP
		}
		out = append(out, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort, TargetPort: intstr.FromInt32(p.ContainerPort), Protocol: proto})
	}
	return out
}

// ServeService routes HTTP traffic to the cluster's serving pods on
// ServeTargetPort (the head container's port named serve, default 8000)
// and, for every head container port named "serve-<something>" (say
// serve-grpc: 9000, the serve gRPC proxy's), that port too. An override
// (RayService's serveService) contributes its metadata and spec.
func ServeService(c *rayv1.RayCluster, name string, override *corev1.Service) *corev1.Service {
	svc := &corev1.Service{}
	if override != nil {
		svc = override.DeepCopy()
		svc.Status = corev1.ServiceStatus{}
		svc.ResourceVersion, svc.UID, svc.CreationTimestamp = "", "", metav1.Time{}
	}
	svc.Name = name
	svc.Namespace = c.Namespace
	svc.Labels = mergeLabels(svc.Labels, objectLabels(c.Name))
	svc.OwnerReferences = []metav1.OwnerReference{OwnerReference(c)}
	svc.Spec.Selector = ServeSelector(c.Name)
	if len(svc.Spec.Ports) == 0 {
		port := ServeTargetPort(c)
		svc.Spec.Ports = []corev1.ServicePort{{Name: rayv1.ServingPortName, Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP}}
		if cs := c.Spec.HeadGroupSpec.Template.Spec.Containers; len(cs) > 0 {
			for _, p := range cs[0].Ports {
				if strings.HasPrefix(p.Name, rayv1.ServingPortName+"-") && p.ContainerPort != port && (p.Protocol == "" || p.Protocol == corev1.ProtocolTCP) {
					svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.Name, Port: p.ContainerPort,
						TargetPort: intstr.FromInt32(p.ContainerPort), Protocol: corev1.ProtocolTCP})
				}
			}
		}
	}
	if svc.Spec.Type == "" {
		svc.Spec.Type = corev1.ServiceTypeClusterIP
	}
	return svc
}

// HeadlessService gives every pod of a multi-host replica a stable DNS name.
func HeadlessService(c *rayv1.RayCluster) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name:            HeadlessServiceName(c.Name),
			Namespace:       c.Namespace,
			Labels:          objectLabels(c.Name),
			OwnerReferences: []metav1.OwnerReference{OwnerReference(c)},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP:                corev1.ClusterIPNone,
			Selector:                 map[string]string{HeadlessWorkerSvcLabel: HeadlessServiceName(c.Name)},
			PublishNotReadyAddresses: true,
		},
	}
}

// NeedsHeadlessService reports whether any worker group spans several hosts.
func NeedsHeadlessService(c *rayv1.RayCluster) bool {
	return slices.ContainsFunc(c.Spec.WorkerGroupSpecs, func(g rayv1.WorkerGroupSpec) bool { return g.NumOfHosts > 1 })
}

func mergeLabels(base, forced map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, forced)
	return out
}
