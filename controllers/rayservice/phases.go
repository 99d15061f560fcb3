package rayservice

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/controllers/clustertls"
	"github.com/goray-dev/goray/internal/desired"
	serveclient "github.com/goray-dev/goray/runtime/serve/client"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// scope is what one reconcile of one RayService knows and has done.
type scope struct {
	rs       *rayv1.RayService
	original *rayv1.RayService
	now      time.Time
	requeue  time.Duration

	invalid   string                                  // why the spec cannot be served
	timedOut  bool                                    // ray.io/initializing-timeout passed
	clusters  map[string]*rayv1.RayCluster            // owned clusters by name
	active    *rayv1.RayCluster                       // serving traffic
	pending   *rayv1.RayCluster                       // being prepared to take over
	details   map[string]*schema.ServeInstanceDetails // serve status by cluster
	apiErrors map[string]string                       // why a cluster's serve API cannot be used, by cluster
	clients   map[string]ServeClient                  // serve API clients by cluster, once its head is ready
	putNow    map[string]bool                         // clusters given a serve config in this reconcile
	endpoints int32
	// rollback: an incremental upgrade is abandoned (the spec went back, or
	// changed again) and its traffic goes back to the active cluster
	// before the pending cluster goes.
	rollback bool
	// upgradeNote says where an incremental upgrade stands.
	upgradeNote string
	// incremental: the RayService upgrades with NewClusterWithIncrementalUpgrade
	// (and the RayServiceIncrementalUpgrade gate is on).
	incremental bool
}

func nowPtr(t time.Time) *metav1.Time { return ptr.To(metav1.NewTime(t)) }

func (s *scope) wakeWithin(d time.Duration) {
	if d > 0 && d < s.requeue {
		s.requeue = d
	}
}

// ServePortMismatch is the reason of the Warning event for a serve config
// whose http_options.port is not where the cluster's proxies listen.
const ServePortMismatch = "ServePortMismatch"

// validate checks what admission cannot: the serve config's YAML and the
// options of an incremental upgrade. It also warns, once per generation,
// about an http_options.port that is not where the proxies listen.
func (r *Reconciler) validate(_ context.Context, s *scope) (bool, error) {
	if msg := servePortMismatch(s.rs); msg != "" && s.original.Status.ObservedGeneration != s.rs.Generation {
		r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, ServePortMismatch, "Validate", msg)
	}
	if _, err := serveConfigJSON(s.rs.Spec.ServeConfigV2); err != nil {
		s.invalid = fmt.Sprintf("spec.serveConfigV2 is not valid YAML: %v", err)
		if s.original.Status.ObservedGeneration != s.rs.Generation {
			r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, rayv1.RayServiceValidationFailed, "Validate", s.invalid)
		}
		return true, nil
	}
	if s.incremental {
		if _, why := incrementalOptions(s.rs); why != "" {
			s.invalid = why
			if s.original.Status.ObservedGeneration != s.rs.Generation {
				r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, rayv1.RayServiceValidationFailed, "Validate", s.invalid)
			}
			return true, nil
		}
	}
	return false, nil
}

// loadClusters finds the owned clusters and which of them is active and pending.
func (r *Reconciler) loadClusters(ctx context.Context, s *scope) (bool, error) {
	list := &rayv1.RayClusterList{}
	if err := r.Client.List(ctx, list, client.InNamespace(s.rs.Namespace), client.MatchingLabels{
		rayv1.RayOriginatedFromCRNameKey: s.rs.Name, rayv1.RayOriginatedFromCRDKey: "RayService"}); err != nil {
		return false, err
	}
	s.clusters = map[string]*rayv1.RayCluster{}
	for i := range list.Items {
		c := &list.Items[i]
		if c.DeletionTimestamp.IsZero() {
			s.clusters[c.Name] = c
		}
	}
	st := &s.rs.Status
	s.active = s.clusters[st.ActiveServiceStatus.RayClusterName]
	s.pending = s.clusters[st.PendingServiceStatus.RayClusterName]
	if s.active == nil {
		st.ActiveServiceStatus = rayv1.RayServiceStatus{}
	}
	if s.pending == nil {
		st.PendingServiceStatus = rayv1.RayServiceStatus{}
	}
	s.details = map[string]*schema.ServeInstanceDetails{}
	s.apiErrors = map[string]string{}
	s.clients = map[string]ServeClient{}
	s.putNow = map[string]bool{}
	return false, nil
}

// deleteReplacedClusters deletes clusters whose deletion delay has passed,
// and clusters that are neither active nor pending.
func (r *Reconciler) deleteReplacedClusters(ctx context.Context, s *scope) (bool, error) {
	for name, c := range s.clusters {
		if c == s.active || c == s.pending {
			continue
		}
		due, wait := dueForDeletion(c, s.now)
		if _, marked := c.Annotations[DeleteAfterAnnotation]; marked && !due {
			s.wakeWithin(wait)
			continue
		}
		if err := r.Client.Delete(ctx, c); client.IgnoreNotFound(err) != nil {
			return false, err
		}
		delete(s.clusters, name)
		r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "DeletedRayCluster", "Upgrade", "deleted RayCluster %s, which no longer serves", name)
	}
	return false, nil
}

// suspend deletes every cluster; the Services stay and select nothing.
func (r *Reconciler) suspend(ctx context.Context, s *scope) (bool, error) {
	if !s.rs.Spec.Suspend {
		return false, nil
	}
	for name, c := range s.clusters {
		if err := r.Client.Delete(ctx, c); client.IgnoreNotFound(err) != nil {
			return true, err
		}
		delete(s.clusters, name)
	}
	s.active, s.pending = nil, nil
	s.rs.Status.ActiveServiceStatus, s.rs.Status.PendingServiceStatus = rayv1.RayServiceStatus{}, rayv1.RayServiceStatus{}
	return true, nil
}

// reconcileClusters creates the first cluster, or a pending one when the
// cluster spec changed (NewCluster strategy), and applies in-place changes.
func (r *Reconciler) reconcileClusters(ctx context.Context, s *scope) (bool, error) {
	if timedOut, d := initializingTimedOut(s.rs, s.now); timedOut {
		s.timedOut = true
		if s.pending != nil {
			if err := r.Client.Delete(ctx, s.pending); client.IgnoreNotFound(err) != nil {
				return true, err
			}
			s.pending = nil
			s.rs.Status.PendingServiceStatus = rayv1.RayServiceStatus{}
			r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, rayv1.RayServiceInitializingTimeout, "Initialize", "no cluster served within %s (ray.io/initializing-timeout)", d)
		}
		return true, nil
	}
	want := clusterHash(&s.rs.Spec.RayClusterSpec)
	switch {
	case s.active == nil && s.pending == nil:
		return false, r.createPending(ctx, s, want)
	case s.active != nil && s.active.Annotations[ClusterHashAnnotation] != want && r.zeroDowntime(s.rs):
		if s.pending != nil && s.pending.Annotations[ClusterHashAnnotation] == want {
			return false, nil
		}
		if s.pending != nil && s.incremental {
			// Traffic goes back to the active cluster first (incrementalUpgrade);
			// a pending cluster of the latest spec comes after.
			s.rollback = true
			return false, nil
		}
		if s.pending != nil {
			// The spec changed again during an upgrade: start over from the latest.
			if err := r.Client.Delete(ctx, s.pending); client.IgnoreNotFound(err) != nil {
				return false, err
			}
		}
		return false, r.createPending(ctx, s, want)
	case s.active != nil && s.pending != nil && s.active.Annotations[ClusterHashAnnotation] == want && s.incremental:
		// The spec went back to the active cluster's during an incremental
		// upgrade: the traffic goes back before the pending cluster goes.
		s.rollback = true
	case s.active != nil && s.pending != nil && s.active.Annotations[ClusterHashAnnotation] == want:
		// The spec went back to the active cluster's: the upgrade is abandoned.
		if err := r.Client.Delete(ctx, s.pending); client.IgnoreNotFound(err) != nil {
			return false, err
		}
		s.pending = nil
		s.rs.Status.PendingServiceStatus = rayv1.RayServiceStatus{}
	}
	if s.active != nil && s.active.Annotations[ClusterHashAnnotation] == want {
		return false, r.syncReplicas(ctx, s.active, &s.rs.Spec.RayClusterSpec)
	}
	return false, nil
}

// zeroDowntime reports whether a cluster spec change brings up a new
// cluster: not with upgradeStrategy None, nor (as KubeRay) with
// NewClusterWithIncrementalUpgrade while the RayServiceIncrementalUpgrade
// gate is off.
func (r *Reconciler) zeroDowntime(rs *rayv1.RayService) bool {
	switch upgradeStrategy(rs) {
	case rayv1.RayServiceUpgradeNone:
		return false
	case rayv1.NewClusterWithIncrementalUpgrade:
		return !r.DisableIncrementalUpgrade
	}
	return true
}

func (r *Reconciler) createPending(ctx context.Context, s *scope, hash string) error {
	name := fmt.Sprintf("%s-%s", s.rs.Name, r.RandomSuffix())
	c := &rayv1.RayCluster{
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: s.rs.Namespace,
			Labels: map[string]string{
				rayv1.RayOriginatedFromCRNameKey: s.rs.Name,
				rayv1.RayOriginatedFromCRDKey:    "RayService",
			},
			Annotations:     map[string]string{ClusterHashAnnotation: hash},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(s.rs, rayv1.GroupVersion.WithKind("RayService"))},
		},
		Spec: *s.rs.Spec.RayClusterSpec.DeepCopy(),
	}
	maps.Copy(c.Annotations, s.rs.Annotations)
	c.Annotations[ClusterHashAnnotation] = hash
	upgrading := s.incremental && s.active != nil
	if upgrading {
		// As KubeRay: the pending cluster of an incremental upgrade starts
		// from its groups' minimum, and its autoscaler adds workers as its
		// target_capacity rises.
		for i := range c.Spec.WorkerGroupSpecs {
			g := &c.Spec.WorkerGroupSpecs[i]
			g.Replicas = ptr.To(ptr.Deref(g.MinReplicas, 0))
		}
	}
	if err := r.Client.Create(ctx, c); err != nil {
		return fmt.Errorf("creating RayCluster %s: %w", name, err)
	}
	s.pending = c
	s.rs.Status.PendingServiceStatus = rayv1.RayServiceStatus{RayClusterName: name}
	switch {
	case upgrading:
		setProgress(&s.rs.Status, progress{ActiveCapacity: 100})
	case s.incremental:
		// The first cluster serves at full capacity.
		s.rs.Status.PendingServiceStatus.TargetCapacity = ptr.To[int32](100)
	}
	r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "CreatedRayCluster", "Upgrade", "created RayCluster %s", name)
	return nil
}

// syncReplicas carries replica counts to the serving cluster in place,
// unless its autoscaler owns them.
func (r *Reconciler) syncReplicas(ctx context.Context, c *rayv1.RayCluster, spec *rayv1.RayClusterSpec) error {
	if desired.AutoscalerEnabled(c) || len(c.Spec.WorkerGroupSpecs) != len(spec.WorkerGroupSpecs) {
		return nil
	}
	before := c.DeepCopy()
	changed := false
	for i := range spec.WorkerGroupSpecs {
		want, have := &spec.WorkerGroupSpecs[i], &c.Spec.WorkerGroupSpecs[i]
		if ptr.Deref(want.Replicas, -1) != ptr.Deref(have.Replicas, -1) || ptr.Deref(want.MinReplicas, -1) != ptr.Deref(have.MinReplicas, -1) ||
			ptr.Deref(want.MaxReplicas, -1) != ptr.Deref(have.MaxReplicas, -1) {
			have.Replicas, have.MinReplicas, have.MaxReplicas = want.Replicas, want.MinReplicas, want.MaxReplicas
			changed = true
		}
	}
	if !changed {
		return nil
	}
	return r.Client.Patch(ctx, c, client.MergeFrom(before))
}

// reconcileServe applies the serve config to each cluster whose head is
// ready (again when the config changed) and reads back the app statuses.
func (r *Reconciler) reconcileServe(ctx context.Context, s *scope) (bool, error) {
	base, _ := serveConfigJSON(s.rs.Spec.ServeConfigV2)
	for _, target := range []struct {
		cluster *rayv1.RayCluster
		status  *rayv1.RayServiceStatus
	}{{s.pending, &s.rs.Status.PendingServiceStatus}, {s.active, &s.rs.Status.ActiveServiceStatus}} {
		c := target.cluster
		if c == nil {
			continue
		}
		target.status.RayClusterName = c.Name
		target.status.RayClusterStatus = c.Status
		if !meta.IsStatusConditionTrue(c.Status.Conditions, string(rayv1.HeadPodReady)) {
			continue
		}
		token, err := r.Tokens.Token(ctx, c)
		if err != nil {
			s.apiErrors[c.Name] = "cannot read the auth token: " + err.Error()
			r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, "AuthTokenUnavailable", "Serve", "RayCluster %s: the auth token: %v", c.Name, err)
			continue
		}
		tr, err := r.TLS.Transport(ctx, c)
		if err != nil {
			s.apiErrors[c.Name] = "cannot read the TLS CA: " + err.Error()
			r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, "TLSCAUnavailable", "Serve", "RayCluster %s: the TLS CA: %v", c.Name, err)
			continue
		}
		sc := r.NewServeClient(clustertls.URL(c, r.DashboardAddress(c)), token, tr)
		s.clients[c.Name] = sc
		config := base
		if s.incremental && target.status.TargetCapacity != nil {
			// The cluster's share of an incremental upgrade (KubeRay sets
			// target_capacity from the status the same way).
			if config, err = withTargetCapacity(base, *target.status.TargetCapacity); err != nil {
				return false, err
			}
		}
		hash := hashOf(string(config))
		if c.Annotations[ServeConfigHashAnnotation] != hash {
			s.putNow[c.Name] = true
			if err := sc.PutJSON(ctx, config); err != nil {
				if serveclient.IsBadConfig(err) {
					r.Recorder.Eventf(s.rs, nil, corev1.EventTypeWarning, "ServeConfigRejected", "Serve", "the serve API of %s rejected spec.serveConfigV2: %v", c.Name, err)
				}
				r.serveAPIError(s, c, err)
				target.status.Applications = nil
				continue
			}
			before := c.DeepCopy()
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[ServeConfigHashAnnotation] = hash
			if err := r.Client.Patch(ctx, c, client.MergeFrom(before)); err != nil {
				return false, err
			}
		}
		details, err := sc.Get(ctx)
		if err != nil {
			r.serveAPIError(s, c, err)
			continue
		}
		s.details[c.Name] = details
		target.status.Applications = appStatuses(details)
	}
	return false, nil
}

// serveAPIError remembers why the serve API of c failed when the answer
// was a refusal (401: the token is read again next time; 403) — a cluster
// that is still starting is not worth a message.
func (r *Reconciler) serveAPIError(s *scope, c *rayv1.RayCluster, err error) {
	var he *serveclient.HTTPError
	if !errors.As(err, &he) || (he.Status != http.StatusUnauthorized && he.Status != http.StatusForbidden) {
		return
	}
	if he.Status == http.StatusUnauthorized {
		r.Tokens.Forget(c)
	}
	s.apiErrors[c.Name] = "the serve API refused the operator: " + err.Error()
}

func appStatuses(d *schema.ServeInstanceDetails) map[string]rayv1.AppStatus {
	out := map[string]rayv1.AppStatus{}
	for name, app := range d.Applications {
		st := rayv1.AppStatus{Status: app.Status, Message: app.Message, Deployments: map[string]rayv1.ServeDeploymentStatus{}}
		for dn, dep := range app.Deployments {
			st.Deployments[dn] = rayv1.ServeDeploymentStatus{Status: dep.Status, Message: dep.Message}
		}
		out[name] = st
	}
	return out
}

// promote makes a pending cluster active once every app on it is RUNNING;
// the replaced cluster is deleted after rayClusterDeletionDelaySeconds.
func (r *Reconciler) promote(ctx context.Context, s *scope) (bool, error) {
	if s.pending == nil || !serveclient.AllRunning(s.details[s.pending.Name]) {
		return false, nil
	}
	if s.active != nil && s.incremental && (s.rollback || !progressOf(&s.rs.Status).done()) {
		// An incremental upgrade promotes when the pending cluster has all
		// the traffic and the active one no capacity (incrementalUpgrade).
		return false, nil
	}
	if old := s.active; old != nil {
		before := old.DeepCopy()
		if old.Annotations == nil {
			old.Annotations = map[string]string{}
		}
		old.Annotations[DeleteAfterAnnotation] = s.now.Add(deletionDelay(s.rs)).UTC().Format(time.RFC3339)
		if err := r.Client.Patch(ctx, old, client.MergeFrom(before)); err != nil {
			return false, err
		}
		s.wakeWithin(deletionDelay(s.rs))
	}
	r.Recorder.Eventf(s.rs, nil, corev1.EventTypeNormal, "Promoted", "Upgrade", "RayCluster %s serves every application; traffic moves to it", s.pending.Name)
	s.active, s.pending = s.pending, nil
	s.rs.Status.ActiveServiceStatus = s.rs.Status.PendingServiceStatus
	s.rs.Status.ActiveServiceStatus.LastTrafficMigratedTime = nowPtr(s.now)
	s.rs.Status.ActiveServiceStatus.TrafficRoutedPercent = ptr.To[int32](100)
	s.rs.Status.PendingServiceStatus = rayv1.RayServiceStatus{}
	return false, nil
}
