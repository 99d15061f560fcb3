package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/jobs/api"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// Job records live in the GCS internal KV, like Ray's JobInfoStorageClient:
// namespace "job", key <prefix>job_info_<submission_id>, value JSON.
const (
	kvNamespace = "job"
	kvPrefix    = "_goray_internal_job_info_"
)

// record is what the KV holds for a job: Ray's JobDetails plus the
// supervisor's bookkeeping, which the API does not show.
type record struct {
	api.JobDetails
	// PlacementGroupID is the reservation holding the entrypoint's resources.
	PlacementGroupID string `json:"goray_placement_group_id,omitempty"`
	// WorkDir is the unpacked working_dir the entrypoint ran in.
	WorkDir string `json:"goray_work_dir,omitempty"`
}

type store struct {
	gcs rpcpb.GcsClient
}

var errExists = errors.New("job exists")

func rpcCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 10*time.Second)
}

// create adds a record unless its id is taken.
func (s store) create(ctx context.Context, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := rpcCtx(ctx)
	defer cancel()
	rep, err := s.gcs.KvPut(ctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + r.ID(), Value: b})
	if err != nil {
		return fmt.Errorf("store job record in the GCS: %w", err)
	}
	if !rep.Added {
		return errExists
	}
	return nil
}

// put overwrites a record.
func (s store) put(ctx context.Context, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := rpcCtx(ctx)
	defer cancel()
	if _, err := s.gcs.KvPut(ctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + r.ID(), Value: b, Overwrite: true}); err != nil {
		return fmt.Errorf("update job record in the GCS: %w", err)
	}
	return nil
}

// get reads a record; nil without error when there is none.
func (s store) get(ctx context.Context, id string) (*record, error) {
	ctx, cancel := rpcCtx(ctx)
	defer cancel()
	rep, err := s.gcs.KvGet(ctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + id})
	if err != nil {
		return nil, fmt.Errorf("read job record from the GCS: %w", err)
	}
	if !rep.Found {
		return nil, nil
	}
	r := &record{}
	if err := json.Unmarshal(rep.Value, r); err != nil {
		return nil, fmt.Errorf("job record %s is corrupt: %w", id, err)
	}
	return r, nil
}

func (s store) del(ctx context.Context, id string) error {
	ctx, cancel := rpcCtx(ctx)
	defer cancel()
	_, err := s.gcs.KvDel(ctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + id})
	return err
}

// list reads every record, ordered by id.
func (s store) list(ctx context.Context) ([]*record, error) {
	cctx, cancel := rpcCtx(ctx)
	rep, err := s.gcs.KvKeys(cctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list job records in the GCS: %w", err)
	}
	var out []*record
	for _, k := range rep.Keys {
		r, err := s.get(ctx, strings.TrimPrefix(k, kvPrefix))
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}
