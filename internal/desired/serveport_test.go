package desired

import (
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// servePortArg is the --serve-port argument of a pod's goray start, "" when none.
func servePortArg(pod *corev1.Pod) string {
	i := slices.IndexFunc(pod.Spec.Containers[0].Command, func(s string) bool { return strings.HasPrefix(s, "--serve-port=") })
	if i < 0 {
		return ""
	}
	return pod.Spec.Containers[0].Command[i]
}

func servePort(n int32) corev1.ContainerPort {
	return corev1.ContainerPort{Name: "serve", ContainerPort: n}
}

// TestServePortFromContainer: KubeRay users move Serve's HTTP port by the
// Ray container's port named serve (ray-service.different-port.yaml), so
// every node's proxy is started there; rayStartParams serve-port wins; a
// worker that names no serve port listens where the serve Service sends
// traffic (the head's port); the Service, the head's default ports and the
// operator's health check all follow.
func TestServePortFromContainer(t *testing.T) {
	for _, tc := range []struct {
		name                 string
		headPorts            []corev1.ContainerPort
		workerPorts          []corev1.ContainerPort
		headParams           map[string]string
		workerParams         map[string]string
		wantHead, wantWorker string // --serve-port=..., "" for none
		wantTarget           int32  // the serve Service's port
		wantHeadServe        int32  // the head container's port named serve
		wantHeadProbe        int32  // PodServePort of the head
		wantWorkerProbe      int32  // PodServePort of a worker
	}{
		{name: "no serve ports: goray start's 8000", wantTarget: 8000, wantHeadServe: 8000, wantHeadProbe: 8000, wantWorkerProbe: 8000},
		{name: "different-port sample: 9000 on head and worker",
			headPorts: []corev1.ContainerPort{{Name: "gcs-server", ContainerPort: 6379}, servePort(9000)}, workerPorts: []corev1.ContainerPort{servePort(9000)},
			wantHead: "--serve-port=9000", wantWorker: "--serve-port=9000", wantTarget: 9000, wantHeadServe: 9000, wantHeadProbe: 9000, wantWorkerProbe: 9000},
		{name: "8000 declared: passed as declared",
			headPorts: []corev1.ContainerPort{servePort(8000)}, workerPorts: []corev1.ContainerPort{servePort(8000)},
			wantHead: "--serve-port=8000", wantWorker: "--serve-port=8000", wantTarget: 8000, wantHeadServe: 8000, wantHeadProbe: 8000, wantWorkerProbe: 8000},
		{name: "worker without a serve port follows the head's",
			headPorts: []corev1.ContainerPort{servePort(9000)},
			wantHead:  "--serve-port=9000", wantWorker: "--serve-port=9000", wantTarget: 9000, wantHeadServe: 9000, wantHeadProbe: 9000, wantWorkerProbe: 9000},
		{name: "worker's own serve port",
			headPorts: []corev1.ContainerPort{servePort(9000)}, workerPorts: []corev1.ContainerPort{servePort(9100)},
			wantHead: "--serve-port=9000", wantWorker: "--serve-port=9100", wantTarget: 9000, wantHeadServe: 9000, wantHeadProbe: 9000, wantWorkerProbe: 9100},
		{name: "a UDP port named serve is not Serve's",
			headPorts:  []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000, Protocol: corev1.ProtocolUDP}},
			wantTarget: 8000, wantHeadServe: 9000, wantHeadProbe: 8000, wantWorkerProbe: 8000},
		{name: "rayStartParams serve-port wins over the container",
			headPorts: []corev1.ContainerPort{servePort(9000)}, workerPorts: []corev1.ContainerPort{servePort(9000)},
			headParams: map[string]string{"serve-port": "9100"}, workerParams: map[string]string{"serve-port": "'9200'"},
			wantHead: "--serve-port=9100", wantWorker: "--serve-port=9200", wantTarget: 9000, wantHeadServe: 9000, wantHeadProbe: 9100, wantWorkerProbe: 9200},
		{name: "rayStartParams serve-port alone moves the head's port and the Service",
			headParams: map[string]string{"serve-port": "9100"},
			wantHead:   "--serve-port=9100", wantWorker: "--serve-port=9100", wantTarget: 9100, wantHeadServe: 9100, wantHeadProbe: 9100, wantWorkerProbe: 9100},
		{name: "the head's proxy off: workers keep 8000",
			headParams: map[string]string{"serve-port": "0"},
			wantHead:   "--serve-port=0", wantTarget: 8000, wantHeadServe: 8000, wantHeadProbe: 0, wantWorkerProbe: 8000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = tc.headPorts
			c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Ports = tc.workerPorts
			if tc.headParams != nil {
				c.Spec.HeadGroupSpec.RayStartParams = tc.headParams
			}
			if tc.workerParams != nil {
				c.Spec.WorkerGroupSpecs[0].RayStartParams = tc.workerParams
			}
			head := HeadPod(c, PodOptions{})
			worker := WorkerPod(c, &c.Spec.WorkerGroupSpecs[0], PodOptions{})
			if got := servePortArg(head); got != tc.wantHead {
				t.Errorf("head %q, want %q", got, tc.wantHead)
			}
			if got := servePortArg(worker); got != tc.wantWorker {
				t.Errorf("worker %q, want %q", got, tc.wantWorker)
			}
			if got := ServeTargetPort(c); got != tc.wantTarget {
				t.Errorf("ServeTargetPort = %d, want %d", got, tc.wantTarget)
			}
			svc := ServeService(c, "x", nil)
			if p := svc.Spec.Ports[0]; p.Name != "serve" || p.Port != tc.wantTarget || p.TargetPort != intstr.FromInt32(tc.wantTarget) {
				t.Errorf("serve Service port %+v, want %d", p, tc.wantTarget)
			}
			if p, ok := findPort(head.Spec.Containers[0].Ports, "serve"); !ok || p.ContainerPort != tc.wantHeadServe {
				t.Errorf("head container port serve %+v (%v), want %d", p, ok, tc.wantHeadServe)
			}
			if got := PodServePort(c, head); got != tc.wantHeadProbe {
				t.Errorf("PodServePort(head) = %d, want %d", got, tc.wantHeadProbe)
			}
			if got := PodServePort(c, worker); got != tc.wantWorkerProbe {
				t.Errorf("PodServePort(worker) = %d, want %d", got, tc.wantWorkerProbe)
			}
		})
	}
}

// TestPodServePortOfAnUnknownGroup: a pod of a group the spec no longer
// has is asked on its container's serve port, else 8000.
func TestPodServePortOfAnUnknownGroup(t *testing.T) {
	c := testCluster()
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{
		rayv1.RayNodeTypeLabelKey: string(rayv1.WorkerNode), rayv1.RayNodeGroupLabelKey: "gone"}}}
	if got := PodServePort(c, pod); got != 8000 {
		t.Errorf("no containers: %d", got)
	}
	pod.Spec.Containers = []corev1.Container{{Name: "ray", Ports: []corev1.ContainerPort{servePort(9000)}}}
	if got := PodServePort(c, pod); got != 9000 {
		t.Errorf("serve port 9000: %d", got)
	}
}
