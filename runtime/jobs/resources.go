package jobs

import (
	"context"
	"errors"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

var (
	errStopped      = errors.New("stopped while pending")
	errStartTimeout = errors.New("timed out waiting for resources")
)

// reserve holds the entrypoint's resources with a one-bundle STRICT_PACK
// placement group, which the GCS schedules like any other: the job stays
// PENDING (with Ray's "waiting for resources" message) until the group is
// CREATED. It returns the group's id (to release, even with an error).
func (m *Manager) reserve(r *run, rec *record, res map[string]float64) (string, error) {
	ctx, cancel := rpcCtx(context.Background())
	info, err := m.cfg.GCS.CreatePlacementGroup(ctx, &rpcpb.PlacementGroupSpec{
		Name:     "_goray_job_" + r.id,
		Strategy: "STRICT_PACK",
		Bundles:  []*rpcpb.Bundle{{Resources: res}},
		Detached: true,
	})
	cancel()
	if err != nil {
		return "", err
	}
	pg := info.PlacementGroupId
	rec.PlacementGroupID = pg
	if err := m.store.put(context.Background(), rec); err != nil {
		return pg, err
	}
	deadline := time.Now().Add(m.cfg.StartTimeout)
	for {
		if info.State == "CREATED" {
			return pg, nil
		}
		if info.State != "PENDING" {
			return pg, errors.New("the reservation ended in state " + info.State)
		}
		select {
		case <-r.stopCh:
			return pg, errStopped
		default:
		}
		wait := min(time.Until(deadline), 500*time.Millisecond)
		if wait <= 0 {
			return pg, errStartTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		go func() {
			select {
			case <-r.stopCh:
				cancel()
			case <-ctx.Done():
			}
		}()
		next, err := m.cfg.GCS.GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pg, Wait: true})
		cancel()
		if err == nil {
			info = next
		} else if ctx.Err() == nil {
			return pg, err
		}
	}
}

// releaseResources removes a job's reservation.
func (m *Manager) releaseResources(pg string) {
	if pg == "" {
		return
	}
	ctx, cancel := rpcCtx(context.Background())
	defer cancel()
	if _, err := m.cfg.GCS.RemovePlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: pg}); err != nil {
		m.log.Printf("release placement group %s: %v", pg, err)
	}
}
