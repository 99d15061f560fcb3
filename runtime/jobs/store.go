package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
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

// maxRecordBytes bounds a stored record. The submission limits keep every
// record below it (the worst case, every limit reached with characters JSON
// escapes sixfold, is about 1.2 MiB: TestLargestValidRequestFits), and it
// is below the 4 MiB a GCS client with gRPC's defaults accepts.
const maxRecordBytes = 2 << 20

// errRecordTooLarge is a record over maxRecordBytes, never stored.
var errRecordTooLarge = errors.New("job record too large")

// bigReply lets one KV reply be as large as the GCS sends (rpcutil's
// MaxMsgSize): the dashboard's GCS client may keep gRPC's 4 MiB default, and
// a record written by an older version with no limits, or the key list of
// very many jobs, must not make every listing fail.
var bigReply = grpc.MaxCallRecvMsgSize(rpcutil.MaxMsgSize)

// corruptRecordError is a record that is not a job's JSON.
type corruptRecordError struct {
	id  string
	err error
}

func (e *corruptRecordError) Error() string {
	return fmt.Sprintf("job record %s is corrupt (DELETE /api/jobs/%s removes it): %v", logID(e.id), logID(e.id), e.err)
}

func (e *corruptRecordError) Unwrap() error { return e.err }

// unreadable reports whether a record can never be read as a job: corrupt,
// or larger than a GCS reply.
func unreadable(err error) bool {
	var c *corruptRecordError
	return errors.As(err, &c) || status.Code(err) == codes.ResourceExhausted
}

func marshalRecord(r *record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	if len(b) > maxRecordBytes {
		return nil, fmt.Errorf("%w: job %s would be stored as %d bytes, more than the limit of %d", errRecordTooLarge, logID(r.ID()), len(b), maxRecordBytes)
	}
	return b, nil
}

func rpcCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, 10*time.Second)
}

// create adds a record unless its id is taken.
func (s store) create(ctx context.Context, r *record) error {
	b, err := marshalRecord(r)
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
	b, err := marshalRecord(r)
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
	rep, err := s.gcs.KvGet(ctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + id}, bigReply)
	if err != nil {
		return nil, fmt.Errorf("read job record from the GCS: %w", err)
	}
	if !rep.Found {
		return nil, nil
	}
	r := &record{}
	if err := json.Unmarshal(rep.Value, r); err != nil {
		return nil, &corruptRecordError{id: id, err: err}
	}
	return r, nil
}

func (s store) del(ctx context.Context, id string) error {
	ctx, cancel := rpcCtx(ctx)
	defer cancel()
	_, err := s.gcs.KvDel(ctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix + id})
	return err
}

// list reads every record, ordered by id, skipping those that can never
// be read (see listReporting).
func (s store) list(ctx context.Context) ([]*record, error) {
	return s.listReporting(ctx, nil)
}

// listReporting reads every record, ordered by id. A record that can never
// be read (corrupt, or larger than a GCS reply) is skipped and passed to
// skipped (when not nil) instead of failing the whole list: one bad key
// must not hide every job.
func (s store) listReporting(ctx context.Context, skipped func(id string, err error)) ([]*record, error) {
	cctx, cancel := rpcCtx(ctx)
	rep, err := s.gcs.KvKeys(cctx, &rpcpb.KvRequest{Namespace: kvNamespace, Key: kvPrefix}, bigReply)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("list job records in the GCS: %w", err)
	}
	var out []*record
	for _, k := range rep.Keys {
		id := strings.TrimPrefix(k, kvPrefix)
		r, err := s.get(ctx, id)
		if err != nil && unreadable(err) {
			if skipped != nil {
				skipped(id, err)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		if r != nil {
			out = append(out, r)
		}
	}
	return out, nil
}
