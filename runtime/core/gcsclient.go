package core

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// gcsOutageLimit bounds how long one GCS call keeps retrying while the GCS
// is unreachable (a head restarting with durable storage is back within
// seconds; Ray's gcs_rpc_server_reconnect_timeout_s is 60 s too). It bounds
// only the retrying: a call that reached the GCS may wait as long as its
// context allows (GetActor and GetPlacementGroup with Wait).
const gcsOutageLimit = 60 * time.Second

// nonIdempotentGCS are the GCS methods that create something on every call:
// one whose connection broke after it was sent may have been executed, and a
// second attempt would create a second job, actor or group. They wait for the
// connection instead (WaitForReady: never sent while the GCS is down) and are
// not retried after a failure.
var nonIdempotentGCS = map[string]bool{
	rpcpb.Gcs_AddJob_FullMethodName:               true,
	rpcpb.Gcs_CreateActor_FullMethodName:          true,
	rpcpb.Gcs_CreatePlacementGroup_FullMethodName: true,
}

// gcsRetry is the retry decision for GCS calls while the head restarts:
// which failures are retried and how long to wait before the next attempt.
type gcsRetry struct {
	base, max time.Duration
	limit     time.Duration
}

var defaultGCSRetry = gcsRetry{base: 100 * time.Millisecond, max: 2 * time.Second, limit: gcsOutageLimit}

// next says whether a call of method that failed with err, first failing at
// first, is tried again at now, and after how long. Only UNAVAILABLE is
// retried: the GCS is down or restarting, or its storage did not confirm a
// write (the GCS says so with UNAVAILABLE too); any other code is the GCS's
// answer.
func (r gcsRetry) next(method string, err error, attempt int, first, now time.Time) (time.Duration, bool) {
	if status.Code(err) != codes.Unavailable || nonIdempotentGCS[method] {
		return 0, false
	}
	if now.Sub(first) >= r.limit {
		return 0, false
	}
	return backoffDelay(r.base, r.max, attempt), true
}

// backoffDelay is base·2^attempt, capped at max.
func backoffDelay(base, max time.Duration, attempt int) time.Duration {
	d := base
	for i := 0; i < attempt && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// gcsConn is the driver's and worker's connection to the GCS: a call made
// while the head is down (killed, restarting on Redis or the file store)
// waits and retries, bounded, instead of failing at once; the GCS answers
// again under the same tables once it is back.
type gcsConn struct {
	cc    grpc.ClientConnInterface
	retry gcsRetry
	now   func() time.Time
	sleep func(context.Context, time.Duration) error
}

func newGCSConn(cc grpc.ClientConnInterface) *gcsConn {
	return &gcsConn{cc: cc, retry: defaultGCSRetry, now: time.Now, sleep: sleepCtx}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Invoke retries UNAVAILABLE calls of idempotent methods with backoff until
// the outage limit or the context ends; creating methods wait for the
// connection to be ready instead.
func (c *gcsConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if nonIdempotentGCS[method] {
		return c.cc.Invoke(ctx, method, args, reply, append(opts, grpc.WaitForReady(true))...)
	}
	var first time.Time
	for attempt := 0; ; attempt++ {
		err := c.cc.Invoke(ctx, method, args, reply, opts...)
		if err == nil || ctx.Err() != nil {
			return err
		}
		if attempt == 0 {
			first = c.now()
		}
		d, ok := c.retry.next(method, err, attempt, first, c.now())
		if !ok {
			return err
		}
		if c.sleep(ctx, d) != nil {
			return err
		}
	}
}

// NewStream waits for the connection to be ready (uploads and downloads of
// executables): a stream cannot be retried from the middle.
func (c *gcsConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.cc.NewStream(ctx, desc, method, append(opts, grpc.WaitForReady(true))...)
}
