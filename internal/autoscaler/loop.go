package autoscaler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/autoscaler/planner"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Config configures the loop.
type Config struct {
	ClusterName, Namespace string
	// Interval is the longest time between rounds (watch events start one sooner).
	Interval time.Duration
	// DrainDeadline is how long a drained node waits for its pod's deletion
	// before it leaves the cluster on its own.
	DrainDeadline time.Duration
	Logger        *log.Logger
	Clock         clock.WithTicker
}

// Autoscaler is the loop's state between rounds.
type Autoscaler struct {
	cfg  Config
	kube client.WithWatch
	gcs  rpcpb.GcsClient
	log  *log.Logger
	clk  clock.WithTicker

	lastDecision   string
	lastDecisionAt time.Time
	warned         map[string]bool
	// counts is the last round's view of the nodes, for the report (a
	// round that waits on deletions reports the one before).
	counts *NodeCounts
}

// New makes an autoscaler; kube needs the ray.io/v1 and core kinds in its scheme.
func New(cfg Config, kube client.WithWatch, gcs rpcpb.GcsClient) *Autoscaler {
	if cfg.Interval <= 0 {
		cfg.Interval = 200 * time.Millisecond
	}
	if cfg.DrainDeadline <= 0 {
		cfg.DrainDeadline = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = log.New(os.Stderr, "[autoscaler] ", log.LstdFlags|log.Lmicroseconds)
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	return &Autoscaler{cfg: cfg, kube: kube, gcs: gcs, log: cfg.Logger, clk: cfg.Clock, lastDecision: "no change yet", warned: map[string]bool{}}
}

// Result is what one round did.
type Result struct {
	Decision planner.Decision
	// Ops is the applied patch (nil when nothing changed).
	Ops []Op
	// Waiting lists workersToDelete pods that still exist (the round did nothing).
	Waiting []string
}

// Run does rounds until ctx ends: every Interval, and at once when the
// RayCluster or one of its pods changes.
func (a *Autoscaler) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go a.watch(ctx, &rayv1.RayClusterList{}, wake, client.MatchingFields{"metadata.name": a.cfg.ClusterName})
	go a.watch(ctx, &corev1.PodList{}, wake, client.MatchingLabels{rayv1.RayClusterLabelKey: a.cfg.ClusterName})
	t := a.clk.NewTicker(a.cfg.Interval)
	defer t.Stop()
	a.log.Printf("autoscaling RayCluster %s/%s every %s", a.cfg.Namespace, a.cfg.ClusterName, a.cfg.Interval)
	for {
		if _, err := a.Step(ctx); err != nil && ctx.Err() == nil {
			a.log.Printf("round failed: %v", err)
			a.report(ctx, nil, nil, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		case <-wake:
		}
	}
}

// watch signals wake on every change of the listed objects, re-watching
// when the server ends the watch.
func (a *Autoscaler) watch(ctx context.Context, list client.ObjectList, wake chan<- struct{}, sel client.ListOption) {
	for ctx.Err() == nil {
		w, err := a.kube.Watch(ctx, list, client.InNamespace(a.cfg.Namespace), sel)
		if err != nil {
			a.log.Printf("watch %T: %v", list, err)
			select {
			case <-ctx.Done():
			case <-a.clk.After(time.Second):
			}
			continue
		}
		for range w.ResultChan() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
		w.Stop()
	}
}

// Step is one round: read, plan, drain, patch, report.
func (a *Autoscaler) Step(ctx context.Context) (Result, error) {
	var res Result
	rc, hasSS, err := a.getCluster(ctx)
	if err != nil {
		return res, err
	}
	var pods corev1.PodList
	if err := a.kube.List(ctx, &pods, client.InNamespace(a.cfg.Namespace), client.MatchingLabels{rayv1.RayClusterLabelKey: a.cfg.ClusterName}); err != nil {
		return res, fmt.Errorf("list pods of %s: %w", a.cfg.ClusterName, err)
	}
	live := LivePods(pods.Items)
	gctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	st, err := a.gcs.GetClusterStatus(gctx, &rpcpb.Empty{})
	cancel()
	if err != nil {
		return res, fmt.Errorf("read the resource state from the GCS: %w", err)
	}
	if res.Waiting = PendingDeletes(rc, live); len(res.Waiting) > 0 {
		// KubeRay's safe_to_scale: nothing changes while named pods exist.
		a.report(ctx, nil, res.Waiting, nil)
		return res, nil
	}
	in, err := BuildInput(rc, live, st)
	if err != nil {
		return res, err
	}
	d := planner.Plan(in)
	a.drain(ctx, &d)
	counts := CountNodes(in, d.Replicas, pods.Items)
	a.counts = &counts
	deletes := map[string][]string{}
	for _, x := range d.Delete {
		deletes[x.Type] = append(deletes[x.Type], x.Pod)
	}
	res.Decision = d
	res.Ops = BuildPatch(rc, hasSS, d.Replicas, deletes)
	if len(res.Ops) > 0 {
		body, _ := json.Marshal(res.Ops)
		if err := a.kube.Patch(ctx, rc, client.RawPatch(types.JSONPatchType, body)); err != nil {
			return res, fmt.Errorf("patch RayCluster %s: %w (patch %s)", a.cfg.ClusterName, err, body)
		}
		if len(d.Launch) == 0 && len(d.Delete) == 0 && d.Replicas != nil {
			// Only the list of deleted pods was cleared: the decision stands.
			a.log.Printf("patched: workersToDelete cleared, the named pods are gone (%s)", body)
		} else {
			a.lastDecision, a.lastDecisionAt = d.Reason(), a.clk.Now()
			a.log.Printf("patched: %s (%s)", d.Reason(), body)
		}
	}
	a.warnInfeasible(ctx, rc, d)
	a.report(ctx, &d, nil, nil)
	return res, nil
}

// getCluster reads the RayCluster unstructured, to know which groups have
// a scaleStrategy (JSON patch replace needs the path to exist).
func (a *Autoscaler) getCluster(ctx context.Context) (*rayv1.RayCluster, []bool, error) {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(rayv1.GroupVersion.WithKind("RayCluster"))
	if err := a.kube.Get(ctx, client.ObjectKey{Namespace: a.cfg.Namespace, Name: a.cfg.ClusterName}, u); err != nil {
		return nil, nil, fmt.Errorf("get RayCluster %s/%s: %w", a.cfg.Namespace, a.cfg.ClusterName, err)
	}
	rc := &rayv1.RayCluster{}
	if err := k8sruntime.DefaultUnstructuredConverter.FromUnstructured(u.Object, rc); err != nil {
		return nil, nil, fmt.Errorf("decode RayCluster: %w", err)
	}
	groups, _, _ := unstructured.NestedSlice(u.Object, "spec", "workerGroupSpecs")
	has := make([]bool, len(groups))
	for i, g := range groups {
		if m, ok := g.(map[string]any); ok {
			_, has[i] = m["scaleStrategy"]
		}
	}
	return rc, has, nil
}

// drain asks the GCS to drain every node the decision removes; a replica
// with a node that refuses (it became busy) is kept.
func (a *Autoscaler) drain(ctx context.Context, d *planner.Decision) {
	refused := map[string]bool{}
	deadline := a.clk.Now().Add(a.cfg.DrainDeadline).UnixMilli()
	for _, x := range d.Delete {
		if x.NodeID == "" || refused[x.Type+"/"+x.Replica] {
			continue
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rep, err := a.gcs.DrainNode(dctx, &rpcpb.DrainNodeRequest{NodeId: x.NodeID, Reason: rpcpb.DrainReason_IDLE_TERMINATION,
			ReasonMessage: fmt.Sprintf("autoscaler: %s", x.Reason), DeadlineTimestampMs: deadline})
		cancel()
		if err == nil && rep.IsAccepted {
			continue
		}
		why := rep.GetRejectionReasonMessage()
		if err != nil {
			why = err.Error()
		}
		a.log.Printf("keeping %s: drain refused: %s", x.Pod, why)
		refused[x.Type+"/"+x.Replica] = true
	}
	if len(refused) == 0 {
		return
	}
	var keep []planner.Deletion
	for _, x := range d.Delete {
		if !refused[x.Type+"/"+x.Replica] {
			keep = append(keep, x)
		}
	}
	for k := range refused {
		t, _, _ := strings.Cut(k, "/")
		d.Replicas[t]++
		d.Reasons = append(d.Reasons, fmt.Sprintf("kept %s: its node refused to drain", k))
	}
	d.Delete = keep
}

// warnInfeasible emits one Warning event per distinct infeasible shape.
func (a *Autoscaler) warnInfeasible(ctx context.Context, rc *rayv1.RayCluster, d planner.Decision) {
	var msgs []string
	for _, r := range d.Infeasible {
		if k := "shape " + r.Shape.Key(); !a.warned[k] {
			a.warned[k] = true
			msgs = append(msgs, fmt.Sprintf("No worker group can hold resource request {%s} (%d pending); it will not be scaled for", r.Shape.Key(), r.Count))
		}
	}
	for _, g := range d.InfeasibleGangs {
		if k := "gang " + g.String(); !a.warned[k] {
			a.warned[k] = true
			msgs = append(msgs, fmt.Sprintf("No worker groups can hold placement group %s; it will not be scaled for", g))
		}
	}
	for _, m := range msgs {
		now := metav1.NewTime(a.clk.Now())
		ev := &corev1.Event{
			ObjectMeta: metav1.ObjectMeta{GenerateName: rc.Name + ".", Namespace: rc.Namespace},
			InvolvedObject: corev1.ObjectReference{Kind: "RayCluster", APIVersion: rayv1.GroupVersion.String(), Name: rc.Name,
				Namespace: rc.Namespace, UID: rc.UID, ResourceVersion: rc.ResourceVersion},
			Reason: "InfeasibleResourceRequest", Message: m, Type: corev1.EventTypeWarning, Count: 1,
			FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "goray-autoscaler"},
		}
		if err := a.kube.Create(ctx, ev); err != nil {
			a.log.Printf("event %q: %v", m, err)
		}
		a.log.Printf("warning: %s", m)
	}
}

// report stores the last decision and the demand left over in the GCS.
func (a *Autoscaler) report(ctx context.Context, d *planner.Decision, waiting []string, roundErr error) {
	st := &rpcpb.AutoscalingState{TimestampMs: a.clk.Now().UnixMilli(), ClusterName: a.cfg.Namespace + "/" + a.cfg.ClusterName,
		LastDecision: a.lastDecision, PendingDeletes: waiting}
	if !a.lastDecisionAt.IsZero() {
		st.LastDecisionTimestampMs = a.lastDecisionAt.UnixMilli()
	}
	if roundErr != nil {
		st.Error = roundErr.Error()
	}
	if a.counts != nil {
		a.counts.fill(st)
	}
	if d != nil {
		st.TargetReplicas = d.Replicas
		st.Infeasible = demands(d.Infeasible)
		st.Unmet = demands(d.Unmet)
		for _, g := range d.InfeasibleGangs {
			gd := &rpcpb.GangDemand{PlacementGroupId: g.ID, Strategy: g.Strategy}
			for _, b := range g.Bundles {
				gd.Bundles = append(gd.Bundles, &rpcpb.Bundle{Resources: b})
			}
			st.InfeasibleGangs = append(st.InfeasibleGangs, gd)
		}
		for _, x := range d.Delete {
			st.PendingDeletes = append(st.PendingDeletes, x.Pod)
		}
		sort.Strings(st.PendingDeletes)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if _, err := a.gcs.ReportAutoscalingState(rctx, st); err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		a.log.Printf("report to the GCS: %v", err)
	}
}

func demands(rs []planner.Request) []*rpcpb.ResourceDemand {
	var out []*rpcpb.ResourceDemand
	for _, r := range rs {
		out = append(out, &rpcpb.ResourceDemand{Shape: r.Shape, Count: int64(r.Count)})
	}
	return out
}
