package rayservice_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/authtoken"
	serveclient "github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

func incrementalService(name string) *rayv1.RayService {
	rs := newService(name, `applications:
  - name: hello
    route_prefix: /hello
    import_path: hello
    deployments:
      - name: Hello
        num_replicas: 4
        user_config:
          greeting: "hi"
`)
	rs.Spec.RayClusterSpec.EnableInTreeAutoscaling = ptr.To(true)
	rs.Spec.UpgradeStrategy = &rayv1.RayServiceUpgradeStrategy{Type: ptr.To(rayv1.NewClusterWithIncrementalUpgrade),
		ClusterUpgradeOptions: &rayv1.ClusterUpgradeOptions{MaxSurgePercent: ptr.To[int32](50), StepSizePercent: ptr.To[int32](25),
			IntervalSeconds: ptr.To[int32](2), GatewayClassName: "none"}}
	return rs
}

// headSplit is the traffic split the head of cluster follows.
func headSplit(ctx context.Context, cluster string) (schema.TrafficSplit, error) {
	secret := &corev1.Secret{}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: cluster}, secret); err != nil {
		return schema.TrafficSplit{}, err
	}
	c := serveclient.NewWithTransport(heads.address(cluster), authtoken.Transport(string(secret.Data["auth_token"]), nil))
	return c.GetTrafficSplit(ctx)
}

// An incremental upgrade: the pending cluster's target_capacity rises by
// maxSurgePercent, traffic follows by stepSizePercent every intervalSeconds
// (the active cluster's proxies splitting it to the pending cluster's own
// serve Service), the active cluster's capacity falls; the status shows
// each step in KubeRay's fields; the pending cluster is promoted when it
// has all the traffic.
func TestIncrementalUpgrade(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, incrementalService("incr")); err != nil {
		t.Fatal(err)
	}
	rs := waitReady(t, ctx, "incr")
	first := rs.Status.ActiveServiceStatus.RayClusterName
	if tc := rs.Status.ActiveServiceStatus.TargetCapacity; tc == nil || *tc != 100 {
		t.Fatalf("first cluster's targetCapacity %v, want 100", tc)
	}
	patchService(t, ctx, "incr", func(rs *rayv1.RayService) {
		rs.Spec.RayClusterSpec.HeadGroupSpec.Template.Labels = map[string]string{"version": "2"}
	})
	type state struct{ A, P, T int32 }
	var seen []state
	var second string
	splits := map[int]bool{}
	deadline := time.Now().Add(3 * time.Minute)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no promotion in 3 min; states seen %v", seen)
		}
		rs, err := getService(ctx, "incr")
		if err != nil {
			t.Fatal(err)
		}
		st := rs.Status
		if st.ActiveServiceStatus.RayClusterName != first {
			second = st.ActiveServiceStatus.RayClusterName
			break
		}
		if p := st.PendingServiceStatus; p.RayClusterName != "" && p.TargetCapacity != nil && p.TrafficRoutedPercent != nil {
			a := st.ActiveServiceStatus
			s := state{ptr.Deref(a.TargetCapacity, -1), *p.TargetCapacity, *p.TrafficRoutedPercent}
			if ptr.Deref(a.TrafficRoutedPercent, -1) != 100-s.T {
				t.Fatalf("active trafficRoutedPercent %v with pending %d", a.TrafficRoutedPercent, s.T)
			}
			if s.T > 0 && (p.LastTrafficMigratedTime == nil || a.LastTrafficMigratedTime == nil) {
				t.Fatalf("traffic moved without lastTrafficMigratedTime: %+v", p)
			}
			if len(seen) == 0 || seen[len(seen)-1] != s {
				seen = append(seen, s)
			}
			// The Service moves in the reconcile that promotes, before that
			// reconcile's status write: read after this status, it may
			// have moved once all the traffic went and the active cluster
			// has no capacity left, or if the promotion came in between.
			if sel := serveSelector(ctx, "incr"); sel != first && (s.T != 100 || s.A != 0) {
				if now, err := getService(ctx, "incr"); err != nil || now.Status.ActiveServiceStatus.RayClusterName == first {
					t.Fatalf("the serve Service moved to %s during the upgrade (state %+v)", sel, s)
				}
			}
			if sp, err := headSplit(ctx, first); err == nil {
				if sp.Percent > 0 && !strings.HasPrefix(sp.TargetURL, "http://"+p.RayClusterName+"-serve-svc."+ns+".svc.") {
					t.Fatalf("the active cluster forwards to %q", sp.TargetURL)
				}
				splits[sp.Percent] = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Every state is one of KubeRay's with maxSurge 50, step 25, in order
	// (a state that lasts one reconcile may pass unseen).
	want := []state{{100, 0, 0}, {100, 50, 0}, {100, 50, 25}, {100, 50, 50}, {50, 50, 50}, {50, 100, 50}, {50, 100, 75}, {50, 100, 100}, {0, 100, 100}}
	for i, s := range seen {
		if !slices.Contains(want, s) || i > 0 && slices.Index(want, s) < slices.Index(want, seen[i-1]) {
			t.Fatalf("states %v: %v is not in %v or goes back", seen, s, want)
		}
	}
	for _, s := range []state{{100, 50, 25}, {50, 100, 75}} {
		if !slices.Contains(seen, s) {
			t.Errorf("states %v lack %v", seen, s)
		}
	}
	for _, p := range []int{25, 50, 75} {
		if !splits[p] {
			t.Errorf("the active cluster's proxies never split %d%% (saw %v)", p, splits)
		}
	}
	if err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: second + "-serve-svc"}, &corev1.Service{}); err != nil {
		t.Errorf("the pending cluster's own serve Service: %v", err)
	}
	rs = waitReady(t, ctx, "incr")
	a := rs.Status.ActiveServiceStatus
	if ptr.Deref(a.TargetCapacity, -1) != 100 || ptr.Deref(a.TrafficRoutedPercent, -1) != 100 || rs.Status.PendingServiceStatus.RayClusterName != "" {
		t.Fatalf("after promotion: active %+v pending %+v", a, rs.Status.PendingServiceStatus)
	}
	// The traffic split API sits behind the dashboard's token check.
	var he *serveclient.HTTPError
	if _, err := serveclient.New(heads.address(second)).GetTrafficSplit(ctx); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Errorf("GET the traffic split without the token: %v, want a 401", err)
	}
	if err := serveclient.New(heads.address(second)).PutTrafficSplit(ctx, schema.TrafficSplit{TargetURL: "http://x:8000", Percent: 50}); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Errorf("PUT the traffic split without the token: %v, want a 401", err)
	}
	if got, err := greet(second); err != nil || got != "hi" {
		t.Errorf("the new cluster answers %q, %v", got, err)
	}
	eventually(t, "the old cluster deleted", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: first}, &rayv1.RayCluster{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
	fmt.Printf("incremental upgrade states: %v\n", seen)
}

// The spec going back during an incremental upgrade rolls it back: the
// active cluster's capacity returns to 100, then its traffic, and only then
// does the pending cluster go.
func TestIncrementalUpgradeRollback(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, incrementalService("incr-back")); err != nil {
		t.Fatal(err)
	}
	rs := waitReady(t, ctx, "incr-back")
	first := rs.Status.ActiveServiceStatus.RayClusterName
	patchService(t, ctx, "incr-back", func(rs *rayv1.RayService) {
		rs.Spec.RayClusterSpec.HeadGroupSpec.Template.Labels = map[string]string{"version": "2"}
	})
	var pending string
	eventually(t, "traffic on the pending cluster and the active cluster's capacity down", func() (bool, error) {
		rs, err := getService(ctx, "incr-back")
		if err != nil {
			return false, err
		}
		pending = rs.Status.PendingServiceStatus.RayClusterName
		return ptr.Deref(rs.Status.ActiveServiceStatus.TargetCapacity, 100) < 100, nil
	})
	patchService(t, ctx, "incr-back", func(rs *rayv1.RayService) { rs.Spec.RayClusterSpec.HeadGroupSpec.Template.Labels = nil })
	sawRollback := false
	eventually(t, "the pending cluster gone after the rollback", func() (bool, error) {
		rs, err := getService(ctx, "incr-back")
		if err != nil {
			return false, err
		}
		if meta.IsStatusConditionTrue(rs.Status.Conditions, string(rayv1.RollbackInProgress)) {
			sawRollback = true
		}
		return rs.Status.PendingServiceStatus.RayClusterName == "", nil
	})
	if !sawRollback {
		t.Error("no RollbackInProgress condition seen")
	}
	rs, _ = getService(ctx, "incr-back")
	if rs.Status.ActiveServiceStatus.RayClusterName != first || serveSelector(ctx, "incr-back") != first {
		t.Fatalf("active %s after the rollback, want %s", rs.Status.ActiveServiceStatus.RayClusterName, first)
	}
	if sp, err := headSplit(ctx, first); err != nil || sp.Percent != 0 {
		t.Fatalf("the active cluster still splits after the rollback: %+v %v", sp, err)
	}
	eventually(t, "the pending cluster deleted", func() (bool, error) {
		err := k8s.Get(ctx, client.ObjectKey{Namespace: ns, Name: pending}, &rayv1.RayCluster{})
		return apierrors.IsNotFound(err), client.IgnoreNotFound(err)
	})
}
