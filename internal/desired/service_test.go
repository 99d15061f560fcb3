package desired

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func servicePort(ports []corev1.ServicePort, name string) (corev1.ServicePort, bool) {
	for _, p := range ports {
		if p.Name == name {
			return p, true
		}
	}
	return corev1.ServicePort{}, false
}

func TestHeadService(t *testing.T) {
	tests := []struct {
		name          string
		edit          func(c *rayv1.RayCluster)
		wantName      string
		wantType      corev1.ServiceType
		headless      bool
		wantPorts     map[string]int32
		wantAnno      map[string]string
		wantUserLabel bool
	}{
		{name: "default headless", wantName: "demo-head-svc", wantType: corev1.ServiceTypeClusterIP, headless: true,
			wantPorts: map[string]int32{"gcs-server": 6379, "dashboard": 8265, "client": 10001, "metrics": 8080, "serve": 8000}},
		{name: "nodeport", edit: func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.ServiceType = corev1.ServiceTypeNodePort },
			wantName: "demo-head-svc", wantType: corev1.ServiceTypeNodePort},
		{name: "loadbalancer", edit: func(c *rayv1.RayCluster) { c.Spec.HeadGroupSpec.ServiceType = corev1.ServiceTypeLoadBalancer },
			wantName: "demo-head-svc", wantType: corev1.ServiceTypeLoadBalancer},
		{name: "container ports used, unnamed skipped", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{
				{Name: "dashboard", ContainerPort: 9000}, {ContainerPort: 1234}, {Name: "udp", ContainerPort: 5000, Protocol: corev1.ProtocolUDP},
			}
		}, wantName: "demo-head-svc", wantType: corev1.ServiceTypeClusterIP, headless: true,
			wantPorts: map[string]int32{"dashboard": 9000, "udp": 5000, "gcs-server": 6379, "client": 10001, "metrics": 8080, "serve": 8000}},
		{name: "headServiceAnnotations", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadServiceAnnotations = map[string]string{"lb": "internal"}
		}, wantName: "demo-head-svc", wantType: corev1.ServiceTypeClusterIP, headless: true, wantAnno: map[string]string{"lb": "internal"}},
		{name: "override", edit: func(c *rayv1.RayCluster) {
			s := &corev1.Service{}
			s.Name = "custom-head"
			s.Annotations = map[string]string{"a": "1"}
			s.Labels = map[string]string{"user": "x", rayv1.RayClusterLabelKey: "wrong"}
			s.ResourceVersion, s.UID = "42", "stale"
			s.Spec.Selector = map[string]string{"app": "other"}
			s.Spec.Ports = []corev1.ServicePort{{Name: "only", Port: 1}}
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "1.2.3.4"}}
			c.Spec.HeadGroupSpec.HeadService = s
			c.Spec.HeadServiceAnnotations = map[string]string{"b": "2"}
		}, wantName: "custom-head", wantType: corev1.ServiceTypeClusterIP, headless: true,
			wantPorts: map[string]int32{"only": 1}, wantAnno: map[string]string{"a": "1", "b": "2"}, wantUserLabel: true},
		{name: "override with type", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.HeadService = &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
		}, wantName: "demo-head-svc", wantType: corev1.ServiceTypeLoadBalancer},
		{name: "serviceType beats override type", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.HeadService = &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}}
			c.Spec.HeadGroupSpec.ServiceType = corev1.ServiceTypeNodePort
		}, wantName: "demo-head-svc", wantType: corev1.ServiceTypeNodePort},
		{name: "override with cluster IP kept", edit: func(c *rayv1.RayCluster) {
			c.Spec.HeadGroupSpec.HeadService = &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.0.0.5"}}
		}, wantName: "demo-head-svc", wantType: corev1.ServiceTypeClusterIP},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			if tt.edit != nil {
				tt.edit(c)
			}
			var before *corev1.Service
			if c.Spec.HeadGroupSpec.HeadService != nil {
				before = c.Spec.HeadGroupSpec.HeadService.DeepCopy()
			}
			svc := HeadService(c)
			if svc.Name != tt.wantName || svc.Name != HeadServiceName(c) || svc.Namespace != "ns1" {
				t.Errorf("name = %s/%s, want ns1/%s", svc.Namespace, svc.Name, tt.wantName)
			}
			if svc.Spec.Type != tt.wantType {
				t.Errorf("type = %q, want %q", svc.Spec.Type, tt.wantType)
			}
			if got := svc.Spec.ClusterIP == corev1.ClusterIPNone; got != tt.headless {
				t.Errorf("headless = %v (clusterIP %q), want %v", got, svc.Spec.ClusterIP, tt.headless)
			}
			if svc.Spec.PublishNotReadyAddresses != tt.headless {
				t.Errorf("publishNotReadyAddresses = %v, want %v", svc.Spec.PublishNotReadyAddresses, tt.headless)
			}
			if !reflect.DeepEqual(svc.Spec.Selector, HeadSelector("demo")) {
				t.Errorf("selector = %v, want HeadSelector", svc.Spec.Selector)
			}
			checkObjectLabels(t, svc.Labels, "demo")
			if svc.Labels[rayv1.RayNodeTypeLabelKey] != "head" || svc.Labels[rayv1.RayIDLabelKey] != "demo-head" {
				t.Errorf("labels = %v", svc.Labels)
			}
			if tt.wantUserLabel && svc.Labels["user"] != "x" {
				t.Errorf("override label lost: %v", svc.Labels)
			}
			checkOwner(t, svc.OwnerReferences, c)
			if svc.ResourceVersion != "" || svc.UID != "" || len(svc.Status.LoadBalancer.Ingress) != 0 {
				t.Errorf("server-set fields copied: rv=%q uid=%q status=%v", svc.ResourceVersion, svc.UID, svc.Status)
			}
			for k, v := range tt.wantAnno {
				if svc.Annotations[k] != v {
					t.Errorf("annotation %s = %q, want %q", k, svc.Annotations[k], v)
				}
			}
			if tt.wantPorts != nil {
				if len(svc.Spec.Ports) != len(tt.wantPorts) {
					t.Errorf("ports = %v, want %v", svc.Spec.Ports, tt.wantPorts)
				}
				for name, num := range tt.wantPorts {
					p, ok := servicePort(svc.Spec.Ports, name)
					if !ok || p.Port != num || (name != "only" && p.TargetPort != intstr.FromInt32(num)) {
						t.Errorf("port %s = %+v, want %d", name, p, num)
					}
					if ok && name != "only" && p.Protocol == "" {
						t.Errorf("port %s has no protocol", name)
					}
				}
				if p, ok := servicePort(svc.Spec.Ports, "udp"); ok && p.Protocol != corev1.ProtocolUDP {
					t.Errorf("udp protocol = %q", p.Protocol)
				}
			}
			if before != nil && !reflect.DeepEqual(before, c.Spec.HeadGroupSpec.HeadService) {
				t.Error("builder mutated spec.headGroupSpec.headService")
			}
		})
	}
}

func TestServeService(t *testing.T) {
	t.Run("default", func(t *testing.T) {
		c := testCluster()
		svc := ServeService(c, ServeServiceName("demo"), nil)
		if svc.Name != "demo-serve-svc" || svc.Namespace != "ns1" || svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("svc = %s/%s %s", svc.Namespace, svc.Name, svc.Spec.Type)
		}
		want := map[string]string{rayv1.RayClusterLabelKey: "demo", rayv1.RayClusterServingServiceKey: "true"}
		if !reflect.DeepEqual(svc.Spec.Selector, want) {
			t.Errorf("selector = %v, want %v", svc.Spec.Selector, want)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "serve" || svc.Spec.Ports[0].Port != 8000 || svc.Spec.Ports[0].TargetPort != intstr.FromInt32(8000) {
			t.Errorf("ports = %v", svc.Spec.Ports)
		}
		checkObjectLabels(t, svc.Labels, "demo")
		checkOwner(t, svc.OwnerReferences, c)
		if svc.Spec.ClusterIP == corev1.ClusterIPNone {
			t.Error("serve Service is headless")
		}
	})
	t.Run("serve port from head container", func(t *testing.T) {
		c := testCluster()
		c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "serve", ContainerPort: 9000}}
		svc := ServeService(c, "x", nil)
		if svc.Spec.Ports[0].Port != 9000 || svc.Spec.Ports[0].TargetPort != intstr.FromInt32(9000) {
			t.Errorf("ports = %v, want 9000", svc.Spec.Ports)
		}
	})
	t.Run("serve-* ports from head container", func(t *testing.T) {
		c := testCluster()
		c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{
			{Name: "serve", ContainerPort: 8000}, {Name: "serve-grpc", ContainerPort: 9000}, {Name: "dashboard", ContainerPort: 8265},
			{Name: "serve-udp", ContainerPort: 9001, Protocol: corev1.ProtocolUDP}, {Name: "server", ContainerPort: 9002}}
		svc := ServeService(c, "x", nil)
		if p, ok := servicePort(svc.Spec.Ports, "serve-grpc"); len(svc.Spec.Ports) != 2 || !ok || p.Port != 9000 || p.TargetPort != intstr.FromInt32(9000) {
			t.Errorf("ports = %v, want serve and serve-grpc", svc.Spec.Ports)
		}
	})
	t.Run("override", func(t *testing.T) {
		c := testCluster()
		o := &corev1.Service{}
		o.Name = "ignored"
		o.Annotations = map[string]string{"a": "1"}
		o.ResourceVersion = "9"
		o.Spec.Type = corev1.ServiceTypeNodePort
		o.Spec.Selector = map[string]string{"x": "y"}
		o.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}}
		svc := ServeService(c, "rs-serve-svc", o)
		if svc.Name != "rs-serve-svc" || svc.Annotations["a"] != "1" || svc.ResourceVersion != "" {
			t.Errorf("meta = %+v", svc.ObjectMeta)
		}
		if svc.Spec.Type != corev1.ServiceTypeNodePort || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" {
			t.Errorf("spec = %+v", svc.Spec)
		}
		if !reflect.DeepEqual(svc.Spec.Selector, ServeSelector("demo")) {
			t.Errorf("selector = %v", svc.Spec.Selector)
		}
		if o.Spec.Selector["x"] != "y" || o.Name != "ignored" {
			t.Error("builder mutated the override")
		}
	})
}

func TestHeadlessService(t *testing.T) {
	c := testCluster()
	svc := HeadlessService(c)
	if svc.Name != "demo-headless" || svc.Namespace != "ns1" {
		t.Errorf("name = %s/%s", svc.Namespace, svc.Name)
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone || !svc.Spec.PublishNotReadyAddresses {
		t.Errorf("clusterIP=%q publishNotReady=%v", svc.Spec.ClusterIP, svc.Spec.PublishNotReadyAddresses)
	}
	if !reflect.DeepEqual(svc.Spec.Selector, map[string]string{HeadlessWorkerSvcLabel: "demo-headless"}) {
		t.Errorf("selector = %v", svc.Spec.Selector)
	}
	checkObjectLabels(t, svc.Labels, "demo")
	checkOwner(t, svc.OwnerReferences, c)
}

func TestNeedsHeadlessService(t *testing.T) {
	tests := []struct {
		name  string
		hosts []int32
		want  bool
	}{
		{"no groups", nil, false},
		{"single host", []int32{0, 1}, false},
		{"one multi-host", []int32{1, 2}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.WorkerGroupSpecs = nil
			for i, h := range tt.hosts {
				c.Spec.WorkerGroupSpecs = append(c.Spec.WorkerGroupSpecs, rayv1.WorkerGroupSpec{GroupName: string(rune('a' + i)), NumOfHosts: h})
			}
			if got := NeedsHeadlessService(c); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestServiceNames(t *testing.T) {
	c := testCluster()
	tests := []struct{ name, got, want string }{
		{"head", HeadServiceName(c), "demo-head-svc"},
		{"serve", ServeServiceName("demo"), "demo-serve-svc"},
		{"headless", HeadlessServiceName("demo"), "demo-headless"},
		{"fqdn", HeadServiceFQDN(c, ""), "demo-head-svc.ns1.svc.cluster.local"},
		{"fqdn domain", HeadServiceFQDN(c, "example.org"), "demo-head-svc.ns1.svc.example.org"},
		{"gcs", GCSAddress(c, ""), "demo-head-svc.ns1.svc.cluster.local:6379"},
		{"dashboard", DashboardURL(c, ""), "demo-head-svc.ns1.svc.cluster.local:8265"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	c.Spec.HeadGroupSpec.Template.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "dashboard", ContainerPort: 9265}}
	if got := DashboardURL(c, ""); got != "demo-head-svc.ns1.svc.cluster.local:9265" {
		t.Errorf("dashboard with port override = %q", got)
	}
	c.Spec.HeadGroupSpec.RayStartParams["port"] = "not-a-number"
	if got := GCSAddress(c, ""); got != "demo-head-svc.ns1.svc.cluster.local:6379" {
		t.Errorf("gcs with bad port = %q, want the default", got)
	}
}
