package rayservice_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func serveConfig(greeting string) string {
	return fmt.Sprintf(`applications:
  - name: hello
    route_prefix: /hello
    import_path: hello
    deployments:
      - name: Hello
        user_config:
          greeting: %q
`, greeting)
}

func newService(name, config string) *rayv1.RayService {
	return &rayv1.RayService{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: rayv1.RayServiceSpec{
			ServeConfigV2:                  config,
			RayClusterDeletionDelaySeconds: ptr.To[int32](3),
			RayClusterSpec: rayv1.RayClusterSpec{HeadGroupSpec: rayv1.HeadGroupSpec{Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "ray-head", Image: "goray/goray:dev"}}}}}},
		},
	}
}

func getService(ctx context.Context, name string) (*rayv1.RayService, error) {
	rs := &rayv1.RayService{}
	return rs, k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, rs)
}

// serveSelector is the cluster the stable serve Service routes to.
func serveSelector(ctx context.Context, name string) string {
	svc := &corev1.Service{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-serve-svc"}, svc); err != nil {
		return ""
	}
	return svc.Spec.Selector[rayv1.RayClusterLabelKey]
}

// greet asks the cluster's proxy for /hello.
func greet(cluster string) (string, error) {
	addr := heads.address(cluster)
	ip := addr[:strings.LastIndex(addr, ":")]
	resp, err := http.Get("http://" + ip + ":8000/hello")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), nil
}

func patchService(t *testing.T, ctx context.Context, name string, change func(*rayv1.RayService)) {
	t.Helper()
	rs, err := getService(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	before := rs.DeepCopy()
	change(rs)
	if err := k8s.Patch(ctx, rs, client.MergeFrom(before)); err != nil {
		t.Fatal(err)
	}
}

func waitReady(t *testing.T, ctx context.Context, name string) *rayv1.RayService {
	t.Helper()
	var rs *rayv1.RayService
	eventually(t, name+" Ready", func() (bool, error) {
		var err error
		rs, err = getService(ctx, name)
		return err == nil && meta.IsStatusConditionTrue(rs.Status.Conditions, string(rayv1.RayServiceReady)) &&
			serveSelector(ctx, name) == rs.Status.ActiveServiceStatus.RayClusterName, err
	})
	return rs
}

func TestDeployUpdateInPlaceAndUpgrade(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newService("web", serveConfig("hi from v1"))); err != nil {
		t.Fatal(err)
	}
	rs := waitReady(t, ctx, "web")
	first := rs.Status.ActiveServiceStatus.RayClusterName
	if rs.Status.ActiveServiceStatus.Applications["hello"].Status != rayv1.ApplicationStatusRunning || rs.Status.NumServeEndpoints < 1 || rs.Status.ServiceStatus != rayv1.Running {
		t.Fatalf("status after deploy: %+v", rs.Status)
	}
	if got, err := greet(first); err != nil || got != "hi from v1" {
		t.Fatalf("GET /hello = %q, %v", got, err)
	}

	// A serve config change alone is applied in place.
	patchService(t, ctx, "web", func(rs *rayv1.RayService) { rs.Spec.ServeConfigV2 = serveConfig("hi from v2") })
	eventually(t, "the new greeting on the same cluster", func() (bool, error) {
		got, err := greet(first)
		return got == "hi from v2", err
	})
	rs, _ = getService(ctx, "web")
	if rs.Status.ActiveServiceStatus.RayClusterName != first || rs.Status.PendingServiceStatus.RayClusterName != "" {
		t.Fatalf("a serve config change brought up a new cluster: %+v", rs.Status)
	}

	// A cluster spec change goes through a pending cluster; traffic moves
	// only once it serves, and the old cluster goes after the delay.
	var sawPending string
	patchService(t, ctx, "web", func(rs *rayv1.RayService) {
		rs.Spec.RayClusterSpec.HeadGroupSpec.Template.Labels = map[string]string{"version": "2"}
		rs.Spec.ServeConfigV2 = serveConfig("hi from v3")
	})
	eventually(t, "traffic on a new cluster", func() (bool, error) {
		rs, err := getService(ctx, "web")
		if err != nil {
			return false, err
		}
		if p := rs.Status.PendingServiceStatus.RayClusterName; p != "" {
			sawPending = p
			if sel := serveSelector(ctx, "web"); sel != first {
				return false, fmt.Errorf("traffic moved to %s before the pending cluster %s served", sel, p)
			}
		}
		active := rs.Status.ActiveServiceStatus.RayClusterName
		return active != first && active != "" && serveSelector(ctx, "web") == active, nil
	})
	rs, _ = getService(ctx, "web")
	second := rs.Status.ActiveServiceStatus.RayClusterName
	if sawPending != "" && sawPending != second {
		t.Errorf("pending cluster %s but %s was promoted", sawPending, second)
	}
	if got, err := greet(second); err != nil || got != "hi from v3" {
		t.Errorf("new cluster answers %q, %v", got, err)
	}
	eventually(t, "the old cluster deleted after rayClusterDeletionDelaySeconds", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &rayv1.RayCluster{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}

func TestFailingPendingClusterNeverGetsTraffic(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newService("guarded", serveConfig("stable"))); err != nil {
		t.Fatal(err)
	}
	rs := waitReady(t, ctx, "guarded")
	stable := rs.Status.ActiveServiceStatus.RayClusterName

	patchService(t, ctx, "guarded", func(rs *rayv1.RayService) {
		rs.Spec.RayClusterSpec.HeadGroupSpec.Template.Labels = map[string]string{"version": "broken"}
		rs.Spec.ServeConfigV2 = strings.Replace(serveConfig("broken"), "import_path: hello", "import_path: no_such_app", 1)
	})
	eventually(t, "a pending cluster with a clear status", func() (bool, error) {
		rs, err := getService(ctx, "guarded")
		if err != nil {
			return false, err
		}
		up := meta.FindStatusCondition(rs.Status.Conditions, string(rayv1.UpgradeInProgress))
		return rs.Status.PendingServiceStatus.RayClusterName != "" && up != nil && up.Status == metav1.ConditionTrue &&
			strings.Contains(up.Message, rs.Status.PendingServiceStatus.RayClusterName), nil
	})
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		rs, err := getService(ctx, "guarded")
		if err != nil {
			t.Fatal(err)
		}
		if sel := serveSelector(ctx, "guarded"); sel != stable || rs.Status.ActiveServiceStatus.RayClusterName != stable {
			t.Fatalf("traffic moved to %s although its applications never ran", sel)
		}
		if !meta.IsStatusConditionTrue(rs.Status.Conditions, string(rayv1.RayServiceReady)) {
			t.Fatalf("the service stopped being Ready during a failed upgrade")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got, err := greet(stable); err != nil || got != "stable" {
		t.Errorf("the stable cluster answers %q, %v", got, err)
	}
}
