package desired

import (
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// ClusterSelector selects every pod of a cluster.
func ClusterSelector(clusterName string) map[string]string {
	return map[string]string{rayv1.RayClusterLabelKey: clusterName}
}

// HeadSelector selects the head pod of a cluster.
func HeadSelector(clusterName string) map[string]string {
	return map[string]string{
		rayv1.RayClusterLabelKey:           clusterName,
		rayv1.RayNodeTypeLabelKey:          string(rayv1.HeadNode),
		rayv1.RayIDLabelKey:                clusterName + "-" + string(rayv1.HeadNode),
		rayv1.KubernetesApplicationNameKey: rayv1.ApplicationName,
		rayv1.KubernetesCreatedByLabelKey:  rayv1.ComponentName,
	}
}

// ServeSelector selects the pods that serve HTTP traffic for a cluster.
func ServeSelector(clusterName string) map[string]string {
	return map[string]string{
		rayv1.RayClusterLabelKey:          clusterName,
		rayv1.RayClusterServingServiceKey: "true",
	}
}

// podLabels are the labels of a pod of the given type and group: the
// template's labels and the group's labels, with ours forced on top.
func podLabels(clusterName string, nodeType rayv1.RayNodeType, group string, template, groupLabels map[string]string) map[string]string {
	out := make(map[string]string, len(template)+len(groupLabels)+7)
	maps.Copy(out, template)
	maps.Copy(out, groupLabels)
	out[rayv1.RayClusterLabelKey] = clusterName
	out[rayv1.RayNodeTypeLabelKey] = string(nodeType)
	out[rayv1.RayNodeGroupLabelKey] = group
	out[rayv1.RayIsRayNodeLabelKey] = "yes"
	out[rayv1.RayIDLabelKey] = clusterName + "-" + string(nodeType)
	out[rayv1.KubernetesApplicationNameKey] = rayv1.ApplicationName
	out[rayv1.KubernetesCreatedByLabelKey] = rayv1.ComponentName
	return out
}

// objectLabels are the labels of the non-pod objects of a cluster.
func objectLabels(clusterName string) map[string]string {
	return map[string]string{
		rayv1.RayClusterLabelKey:           clusterName,
		rayv1.KubernetesApplicationNameKey: rayv1.ApplicationName,
		rayv1.KubernetesCreatedByLabelKey:  rayv1.ComponentName,
	}
}

// OwnerReference makes the cluster the controlling owner of an object, so
// deleting the cluster garbage-collects it.
func OwnerReference(c *rayv1.RayCluster) metav1.OwnerReference {
	return *metav1.NewControllerRef(c, rayv1.GroupVersion.WithKind("RayCluster"))
}
