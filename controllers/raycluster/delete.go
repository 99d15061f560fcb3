package raycluster

import (
	"context"
	"fmt"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
)

// GCSFTRedisCleanupFinalizer holds a fault-tolerant cluster until its state
// in Redis was removed (KubeRay's name).
const GCSFTRedisCleanupFinalizer = "ray.io/gcs-ft-redis-cleanup-finalizer"

// defaultRedisCleanupTimeout bounds the cleanup when the annotation does not.
const defaultRedisCleanupTimeout = 300 * time.Second

// needsRedisCleanup is true for clusters whose GCS keeps its state in Redis.
func needsRedisCleanup(c *rayv1.RayCluster) bool {
	ft := c.Spec.GcsFaultToleranceOptions
	return ft != nil && ft.Backend != rayv1.GcsBackendRocksDB && ft.RedisAddress != ""
}

func (r *Reconciler) ensureFinalizer(ctx context.Context, c *rayv1.RayCluster) error {
	if !needsRedisCleanup(c) || controllerutil.ContainsFinalizer(c, GCSFTRedisCleanupFinalizer) {
		return nil
	}
	before := c.DeepCopy()
	controllerutil.AddFinalizer(c, GCSFTRedisCleanupFinalizer)
	return r.Client.Patch(ctx, c, client.MergeFrom(before))
}

// reconcileDelete runs the Redis cleanup Job of a fault-tolerant cluster
// after its pods are gone, then lets the cluster go. A cleanup that fails or
// outlasts the timeout is reported and the finalizer removed anyway, so a
// broken Redis never blocks a delete forever.
func (r *Reconciler) reconcileDelete(ctx context.Context, c *rayv1.RayCluster) (ctrl.Result, error) {
	if !controllerutil.ContainsFinalizer(c, GCSFTRedisCleanupFinalizer) {
		r.forget(c.Namespace, c.Name)
		return ctrl.Result{}, nil
	}
	timeout := defaultRedisCleanupTimeout
	// KubeRay's annotation holds whole seconds ("300").
	if secs, err := strconv.Atoi(c.Annotations[rayv1.GCSFTDeletionTimeoutAnnotationKey]); err == nil && secs > 0 {
		timeout = time.Duration(secs) * time.Second
	}
	if r.Clock.Since(c.DeletionTimestamp.Time) > timeout {
		r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "RedisCleanupTimeout", "Delete", "the Redis cleanup did not finish within %s; removing the finalizer", timeout)
		return ctrl.Result{}, r.removeFinalizer(ctx, c)
	}
	pods := &corev1.PodList{}
	if err := r.Client.List(ctx, pods, client.InNamespace(c.Namespace), client.MatchingFields{podsByCluster: c.Name}); err != nil {
		return ctrl.Result{}, err
	}
	running := 0
	for i := range pods.Items {
		p := &pods.Items[i]
		if p.Labels[rayv1.RayNodeTypeLabelKey] == string(rayv1.RedisCleanupNode) {
			continue
		}
		running++
		if p.DeletionTimestamp.IsZero() {
			if err := r.Client.Delete(ctx, p); client.IgnoreNotFound(err) != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if running > 0 {
		return ctrl.Result{RequeueAfter: 2 * time.Second}, nil // the GCS must stop writing first
	}

	job := desired.RedisCleanupJob(c)
	desired.UseRuntimeImageInJob(c, job, r.RuntimeImage)
	existing := &batchv1.Job{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(job), existing)
	switch {
	case apierrors.IsNotFound(err):
		if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
			return ctrl.Result{}, fmt.Errorf("creating the Redis cleanup Job: %w", err)
		}
		r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "RedisCleanupStarted", "Delete", "started Job %s to remove the cluster's state from Redis", job.Name)
		return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	for _, cond := range existing.Status.Conditions {
		if cond.Status != corev1.ConditionTrue {
			continue
		}
		switch cond.Type {
		case batchv1.JobComplete:
			r.Recorder.Eventf(c, nil, corev1.EventTypeNormal, "RedisCleanupSucceeded", "Delete", "Job %s removed the cluster's state from Redis", existing.Name)
			return ctrl.Result{}, r.removeFinalizer(ctx, c)
		case batchv1.JobFailed:
			r.Recorder.Eventf(c, nil, corev1.EventTypeWarning, "RedisCleanupFailed", "Delete", "Job %s failed (%s): the cluster's keys may remain in Redis", existing.Name, cond.Message)
			return ctrl.Result{}, r.removeFinalizer(ctx, c)
		}
	}
	return ctrl.Result{RequeueAfter: 5 * time.Second}, nil
}

func (r *Reconciler) removeFinalizer(ctx context.Context, c *rayv1.RayCluster) error {
	before := c.DeepCopy()
	controllerutil.RemoveFinalizer(c, GCSFTRedisCleanupFinalizer)
	if err := r.Client.Patch(ctx, c, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
		return err
	}
	r.forget(c.Namespace, c.Name)
	return nil
}
