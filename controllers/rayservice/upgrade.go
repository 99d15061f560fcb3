package rayservice

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// stepRequeue is how soon a reconcile follows a step of an incremental
// upgrade, to apply it.
const stepRequeue = 500 * time.Millisecond

// withTargetCapacity is a serve config (JSON) with its target_capacity set.
func withTargetCapacity(config []byte, capacity int32) ([]byte, error) {
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(config, &m); err != nil {
		return nil, fmt.Errorf("spec.serveConfigV2: %w", err)
	}
	m["target_capacity"] = json.RawMessage(strconv.Itoa(int(capacity)))
	return json.Marshal(m)
}

// splitTarget is the base URL of the pending cluster's own serve Service,
// where the active cluster's proxies forward their share of the requests.
func (r *Reconciler) splitTarget(c *rayv1.RayCluster) string {
	domain := r.ClusterDomain
	if domain == "" {
		domain = desired.DefaultClusterDomain
	}
	host := fmt.Sprintf("%s.%s.svc.%s", desired.ServeServiceName(c.Name), c.Namespace, domain)
	return "http://" + net.JoinHostPort(host, strconv.Itoa(int(desired.ServeTargetPort(c))))
}

// incrementalUpgrade drives an incremental upgrade one step
// (NewClusterWithIncrementalUpgrade; see incremental.go): it gives the
// pending cluster a serve Service of its own, makes the active cluster's
// proxies split the traffic as the status says, observes whether the last
// step took effect and takes the next one (or one of a rollback). The
// clusters' target_capacity follows the status in reconcileServe.
func (r *Reconciler) incrementalUpgrade(ctx context.Context, s *scope) (bool, error) {
	if !s.incremental || s.active == nil || s.pending == nil {
		return false, nil
	}
	if err := r.ensurePendingServeService(ctx, s.pending); err != nil {
		return false, err
	}
	st := &s.rs.Status
	p := progressOf(st)
	setProgress(st, p) // the shape KubeRay shows, from the first reconcile on
	obs := observed{
		PendingServes: r.servesAt(s, s.pending, p.PendingCapacity),
		ActiveServes:  r.servesAt(s, s.active, p.ActiveCapacity),
		ActiveSettled: r.settledAt(s, s.active, p.ActiveCapacity),
	}
	if sc := s.clients[s.active.Name]; sc != nil {
		want := schema.TrafficSplit{}
		if p.Traffic > 0 {
			want = schema.TrafficSplit{TargetURL: r.splitTarget(s.pending), Percent: int(p.Traffic)}
		}
		have, err := sc.GetTrafficSplit(ctx)
		switch {
		case err != nil:
			r.serveAPIError(s, s.active, err)
		case have == want:
			obs.TrafficApplied = true
		default:
			if err := sc.PutTrafficSplit(ctx, want); err != nil {
				r.serveAPIError(s, s.active, err)
				break
			}
			r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "TrafficSplit", "Upgrade",
				"RayCluster %s forwards %d%% of the requests to RayCluster %s", s.active.Name, p.Traffic, s.pending.Name)
			// Applied: the proxies follow within a routing-table poll;
			// the next step waits for the next reconcile anyway.
			s.wakeWithin(stepRequeue)
		}
	}
	if s.rollback {
		next, ready, why := rollbackStep(p, obs, s.now)
		s.upgradeNote = why
		if next != p {
			setProgress(st, next)
			r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "IncrementalUpgradeRollback", "Upgrade", "%s", why)
			s.wakeWithin(stepRequeue)
			return false, nil
		}
		if !ready {
			s.wakeWithin(time.Second)
			return false, nil
		}
		if err := r.Client.Delete(ctx, s.pending); client.IgnoreNotFound(err) != nil {
			return false, err
		}
		r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "DeletedRayCluster", "Upgrade",
			"deleted RayCluster %s: the upgrade to it was rolled back", s.pending.Name)
		s.pending, s.rollback = nil, false
		st.PendingServiceStatus = rayv1.RayServiceStatus{}
		st.ActiveServiceStatus.TrafficRoutedPercent = nil
		st.ActiveServiceStatus.TargetCapacity = nil
		s.wakeWithin(stepRequeue)
		return false, nil
	}
	o, _ := incrementalOptions(s.rs) // validate refused options that do not drive an upgrade
	res := nextStep(p, o, obs, s.now)
	s.upgradeNote = res.reason
	if res.next != p {
		setProgress(st, res.next)
		r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "IncrementalUpgradeStep", "Upgrade", "%s", res.reason)
		s.wakeWithin(stepRequeue)
		return false, nil
	}
	if res.wait > 0 {
		s.wakeWithin(res.wait)
	} else {
		s.wakeWithin(time.Second)
	}
	return false, nil
}

// servesAt reports whether c runs every application with every replica of
// target capacity capacity, as its serve API answered in this reconcile to
// a config given in an earlier one.
func (r *Reconciler) servesAt(s *scope, c *rayv1.RayCluster, capacity int32) bool {
	d := s.details[c.Name]
	if d == nil || s.putNow[c.Name] || !capacityIs(d, capacity) || len(d.Applications) == 0 {
		return false
	}
	for _, app := range d.Applications {
		if app.Status != schema.AppRunning {
			return false
		}
		for _, dep := range app.Deployments {
			if dep.Status != schema.DepHealthy {
				return false
			}
		}
	}
	return true
}

// settledAt reports whether c was given target capacity capacity in an
// earlier reconcile and none of its deployments is still scaling. A
// cluster whose serve API does not answer does not hold the upgrade up:
// its capacity only goes down, and its traffic went before.
func (r *Reconciler) settledAt(s *scope, c *rayv1.RayCluster, capacity int32) bool {
	if s.putNow[c.Name] || s.apiErrors[c.Name] != "" {
		return false
	}
	d := s.details[c.Name]
	if d == nil {
		return true
	}
	if !capacityIs(d, capacity) {
		return false
	}
	for _, app := range d.Applications {
		for _, dep := range app.Deployments {
			switch dep.Status {
			case schema.DepUpdating, schema.DepUpscaling, schema.DepDownscaling:
				return false
			}
		}
	}
	return true
}

// capacityIs reports whether the serve instance runs at target capacity c
// (none set counts as 100).
func capacityIs(d *schema.ServeInstanceDetails, c int32) bool {
	have := 100.0
	if d.TargetCapacity != nil {
		have = *d.TargetCapacity
	}
	return have == float64(c)
}

// ensurePendingServeService gives the pending cluster its own serve
// Service (<cluster>-serve-svc, owned by the cluster, so it goes with it):
// the active cluster's proxies forward the pending cluster's share there.
func (r *Reconciler) ensurePendingServeService(ctx context.Context, c *rayv1.RayCluster) error {
	svc := desired.ServeService(c, desired.ServeServiceName(c.Name), nil)
	existing := &corev1.Service{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(svc), existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, svc); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		return nil
	case err != nil:
		return err
	case !equality.Semantic.DeepEqual(existing.Spec.Selector, svc.Spec.Selector):
		before := existing.DeepCopy()
		existing.Spec.Selector = svc.Spec.Selector
		return r.Client.Patch(ctx, existing, client.MergeFrom(before))
	}
	return nil
}
