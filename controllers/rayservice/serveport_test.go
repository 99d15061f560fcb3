package rayservice_test

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/rayservice"
	"github.com/goray-dev/goray/internal/testenv"
)

// servePortEvents are the RayService's ServePortMismatch events.
func servePortEvents(ctx context.Context, name string) ([]eventsv1.Event, error) {
	list := &eventsv1.EventList{}
	if err := k8s.List(ctx, list, client.InNamespace(ns)); err != nil {
		return nil, err
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Regarding.Kind == "RayService" && e.Regarding.Name == name && e.Reason == rayservice.ServePortMismatch {
			out = append(out, e)
		}
	}
	return out, nil
}

// TestKubeRaySampleDifferentPort: KubeRay's ray-service.different-port.yaml
// moves Serve to port 9000 through the containers' ports named serve (and
// http_options.port). Its pods start goray with --serve-port=9000, the
// serve Service targets 9000, the operator finds the head's proxy healthy
// there (the head joins the Service), and a request on 9000 is answered;
// the gRPC proxy, whose default port that is, steps aside. The sample's
// Python application is replaced by goray-examples' hello.
func TestKubeRaySampleDifferentPort(t *testing.T) {
	ctx := context.Background()
	data, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "api", "v1", "testdata", "kuberay-samples", "ray-service.different-port.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rs := &rayv1.RayService{}
	if err := yaml.UnmarshalStrict(data, rs); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rs.Spec.ServeConfigV2, "port: 9000") {
		t.Fatalf("the sample no longer moves http_options.port to 9000:\n%s", rs.Spec.ServeConfigV2)
	}
	const name = "different-port"
	rs.Namespace, rs.Name = ns, name
	rs.Spec.ServeConfigV2 = serveConfig("hi on 9000") + "http_options:\n  port: 9000\n"
	rs.Spec.RayClusterDeletionDelaySeconds = ptr.To[int32](3)
	if err := k8s.Create(ctx, rs); err != nil {
		t.Fatal(err)
	}
	rs = waitReady(t, ctx, name)
	cluster := rs.Status.ActiveServiceStatus.RayClusterName
	if rs.Status.NumServeEndpoints < 1 {
		t.Errorf("no serve endpoint: the head's proxy on 9000 was not found healthy: %+v", rs.Status)
	}

	pods := &corev1.PodList{}
	if err := k8s.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{rayv1.RayClusterLabelKey: cluster}); err != nil {
		t.Fatal(err)
	}
	types := map[string]int{}
	for _, p := range pods.Items {
		typ := p.Labels[rayv1.RayNodeTypeLabelKey]
		types[typ]++
		if cmd := p.Spec.Containers[0].Command; !slices.Contains(cmd, "--serve-port=9000") {
			t.Errorf("%s pod %s runs %q, without --serve-port=9000", typ, p.Name, cmd)
		}
		if typ == string(rayv1.HeadNode) && p.Labels[rayv1.RayClusterServingServiceKey] != "true" {
			t.Errorf("head pod %s is not labeled to serve: %v", p.Name, p.Labels)
		}
	}
	if types["head"] != 1 || types["worker"] != 1 {
		t.Errorf("pods by type %v, want a head and a worker", types)
	}

	svc := &corev1.Service{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-serve-svc"}, svc); err != nil {
		t.Fatal(err)
	}
	if p := svc.Spec.Ports[0]; p.Name != "serve" || p.Port != 9000 || p.TargetPort.IntValue() != 9000 {
		t.Errorf("serve Service port %+v, want serve 9000", p)
	}

	addr := heads.address(cluster)
	resp, err := http.Get("http://" + addr[:strings.LastIndex(addr, ":")] + ":9000/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if got := strings.TrimSpace(string(b)); resp.StatusCode != http.StatusOK || got != "hi on 9000" {
		t.Errorf("GET :9000/hello = %d %q", resp.StatusCode, got)
	}
	if evs, err := servePortEvents(ctx, name); err != nil || len(evs) != 0 {
		t.Errorf("ServePortMismatch events for a sample whose ports agree: %v, %v", evs, err)
	}
}

// TestServePortMismatchWarns: an http_options.port that is not the port the
// serve Service targets is reported with a Warning event naming both ports.
func TestServePortMismatchWarns(t *testing.T) {
	ctx := context.Background()
	const name = "port-mismatch"
	if err := k8s.Create(ctx, newService(name, serveConfig("hi")+"http_options:\n  port: 9000\n")); err != nil {
		t.Fatal(err)
	}
	var evs []eventsv1.Event
	eventually(t, "a ServePortMismatch event", func() (bool, error) {
		var err error
		evs, err = servePortEvents(ctx, name)
		return len(evs) > 0, err
	})
	if e := evs[0]; e.Type != corev1.EventTypeWarning || !strings.Contains(e.Note, "http_options.port is 9000 but the serve Service sends traffic to port 8000") {
		t.Errorf("event %s: %s", e.Type, e.Note)
	}
}
