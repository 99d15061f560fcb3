package rayjob

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func (r *Reconciler) ensureFinalizer(ctx context.Context, job *rayv1.RayJob) error {
	if controllerutil.ContainsFinalizer(job, Finalizer) {
		return nil
	}
	before := job.DeepCopy()
	controllerutil.AddFinalizer(job, Finalizer)
	return r.Client.Patch(ctx, job, client.MergeFrom(before))
}

// reconcileDelete stops a job that is still running before letting the
// RayJob (and, through owner references, its cluster) go.
func (r *Reconciler) reconcileDelete(ctx context.Context, job *rayv1.RayJob) error {
	if !controllerutil.ContainsFinalizer(job, Finalizer) {
		return nil
	}
	r.stopJob(ctx, &scope{job: job, now: r.Clock.Now()})
	before := job.DeepCopy()
	controllerutil.RemoveFinalizer(job, Finalizer)
	return client.IgnoreNotFound(r.Client.Patch(ctx, job, client.MergeFrom(before)))
}
