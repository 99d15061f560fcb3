// Package raycronjob reconciles a RayCronJob (KubeRay's alpha kind): on each
// schedule time it creates a RayJob from the template, named by the time so
// that it is created once, honouring suspend, the concurrency policy and the
// history limits as a Kubernetes CronJob does.
package raycronjob

import (
	"context"
	"maps"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

// Reconciler reconciles RayCronJobs.
type Reconciler struct {
	Client             client.Client
	Recorder           events.EventRecorder
	Clock              clock.PassiveClock
	SkipNameValidation bool
}

// SetupWithManager registers the controller and its watches.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&rayv1.RayCronJob{}).
		Owns(&rayv1.RayJob{}).
		WithOptions(controller.Options{SkipNameValidation: &r.SkipNameValidation}).
		Complete(r)
}

// Reconcile creates the RayJob that is due, trims the history and requeues
// for the next schedule time.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	cj := &rayv1.RayCronJob{}
	if err := r.Client.Get(ctx, req.NamespacedName, cj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !cj.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	original := cj.DeepCopy()
	now := r.Clock.Now()

	jobs, err := r.ownedJobs(ctx, cj)
	if err != nil {
		return ctrl.Result{}, err
	}
	active, finished := splitByState(jobs)
	if err := r.trimHistory(ctx, cj, finished); err != nil {
		return ctrl.Result{}, err
	}
	cj.Status.Active = names(active)
	cj.Status.ObservedGeneration = cj.Generation

	result := ctrl.Result{}
	schedule, loc, err := parseSchedule(cj.Spec.Schedule, cj.Spec.TimeZone)
	switch {
	case err != nil:
		r.Recorder.Eventf(cj, nil, corev1.EventTypeWarning, "InvalidSchedule", "Schedule", err.Error())
	case cj.Spec.Suspend:
		// Nothing is created while suspended; on resume the latest missed
		// time runs once, as with a Kubernetes CronJob.
	default:
		since := cj.CreationTimestamp.Time
		if cj.Status.LastScheduleTime != nil {
			since = cj.Status.LastScheduleTime.Time
		}
		due, next := dueTime(schedule, loc, since, now)
		if !due.IsZero() {
			if err := r.runDue(ctx, cj, active, due); err != nil {
				return ctrl.Result{}, err
			}
		}
		result.RequeueAfter = next.Sub(now) + 100*time.Millisecond
	}
	if !equality.Semantic.DeepEqual(original.Status, cj.Status) {
		if err := r.Client.Status().Patch(ctx, cj, client.MergeFrom(original)); err != nil {
			return ctrl.Result{}, err
		}
	}
	return result, nil
}

// runDue creates the RayJob for a due time, unless the concurrency policy
// says to skip it; Replace deletes the running ones first.
func (r *Reconciler) runDue(ctx context.Context, cj *rayv1.RayCronJob, active []rayv1.RayJob, due time.Time) error {
	switch cj.Spec.ConcurrencyPolicy {
	case "Forbid":
		if len(active) > 0 {
			r.Recorder.Eventf(cj, nil, corev1.EventTypeNormal, "JobSkipped", "Schedule", "skipped the run of %s: %d RayJob(s) still running (concurrencyPolicy Forbid)", due.UTC().Format(time.RFC3339), len(active))
			cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(due))
			return nil
		}
	case "Replace":
		for i := range active {
			if err := r.Client.Delete(ctx, &active[i], client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	job := &rayv1.RayJob{
		ObjectMeta: metav1.ObjectMeta{
			Name:      jobName(cj.Name, due),
			Namespace: cj.Namespace,
			Labels: map[string]string{
				rayv1.RayOriginatedFromCRNameKey: cj.Name,
				rayv1.RayOriginatedFromCRDKey:    "RayCronJob",
			},
			Annotations:     map[string]string{"ray.io/cronjob-scheduled-timestamp": due.UTC().Format(time.RFC3339)},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, rayv1.GroupVersion.WithKind("RayCronJob"))},
		},
		Spec: *cj.Spec.JobTemplate.DeepCopy(),
	}
	maps.Copy(job.Labels, cj.Labels)
	job.Labels[rayv1.RayOriginatedFromCRNameKey], job.Labels[rayv1.RayOriginatedFromCRDKey] = cj.Name, "RayCronJob"
	if err := r.Client.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
		r.Recorder.Eventf(cj, nil, corev1.EventTypeWarning, "FailedCreate", "Schedule", "creating RayJob %s: %v", job.Name, err)
		return err
	}
	r.Recorder.Eventf(cj, nil, corev1.EventTypeNormal, "SuccessfulCreate", "Schedule", "created RayJob %s for %s", job.Name, due.UTC().Format(time.RFC3339))
	cj.Status.LastScheduleTime = ptr.To(metav1.NewTime(due))
	cj.Status.Active = append(cj.Status.Active, job.Name)
	return nil
}

func (r *Reconciler) ownedJobs(ctx context.Context, cj *rayv1.RayCronJob) ([]rayv1.RayJob, error) {
	list := &rayv1.RayJobList{}
	if err := r.Client.List(ctx, list, client.InNamespace(cj.Namespace), client.MatchingLabels{
		rayv1.RayOriginatedFromCRNameKey: cj.Name, rayv1.RayOriginatedFromCRDKey: "RayCronJob"}); err != nil {
		return nil, err
	}
	return list.Items, nil
}

// splitByState separates running RayJobs from finished ones (oldest first).
func splitByState(jobs []rayv1.RayJob) (active, finished []rayv1.RayJob) {
	for _, j := range jobs {
		switch j.Status.JobDeploymentStatus {
		case rayv1.JobDeploymentStatusComplete, rayv1.JobDeploymentStatusFailed, rayv1.JobDeploymentStatusValidationFailed:
			finished = append(finished, j)
		default:
			if j.DeletionTimestamp.IsZero() {
				active = append(active, j)
			}
		}
	}
	sort.Slice(finished, func(a, b int) bool { return finished[a].CreationTimestamp.Before(&finished[b].CreationTimestamp) })
	sort.Slice(active, func(a, b int) bool { return active[a].Name < active[b].Name })
	return active, finished
}

// trimHistory keeps the newest successfulJobsHistoryLimit (3) completed and
// failedJobsHistoryLimit (1) failed RayJobs.
func (r *Reconciler) trimHistory(ctx context.Context, cj *rayv1.RayCronJob, finished []rayv1.RayJob) error {
	keepOK, keepFailed := int(ptr.Deref(cj.Spec.SuccessfulJobsHistoryLimit, 3)), int(ptr.Deref(cj.Spec.FailedJobsHistoryLimit, 1))
	var ok, failed []rayv1.RayJob
	for _, j := range finished {
		if j.Status.JobDeploymentStatus == rayv1.JobDeploymentStatusComplete {
			ok = append(ok, j)
		} else {
			failed = append(failed, j)
		}
	}
	for _, group := range []struct {
		jobs []rayv1.RayJob
		keep int
	}{{ok, keepOK}, {failed, keepFailed}} {
		for i := 0; i < len(group.jobs)-group.keep; i++ {
			if err := r.Client.Delete(ctx, &group.jobs[i], client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return err
			}
		}
	}
	return nil
}

func names(jobs []rayv1.RayJob) []string {
	var out []string
	for _, j := range jobs {
		out = append(out, j.Name)
	}
	return out
}
