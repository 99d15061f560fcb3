package core

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	"github.com/goray-dev/goray/runtime/ownership"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// clusterIDHeader names the GCS's cluster in its replies (gcs.ClusterIDHeader:
// random once, then kept by a durable storage). A core worker sends it back
// on its requests, and the GCS refuses requests meant for another cluster,
// so that a process of a cluster whose head restarted without storage never
// acts on the new one: its job id may name another program's job there.
const clusterIDHeader = rpcutil.ClusterIDHeader

// clusterCheckInterval is how often a driver asks the GCS something cheap,
// so that a head restarted without storage is noticed within seconds even
// by a driver that makes no GCS calls of its own.
const clusterCheckInterval = time.Second

// orphanExitGrace is how long an orphaned driver's program has, once its
// calls fail with the GCSLostError, to end on its own before the process
// exits.
const orphanExitGrace = 2 * time.Second

// envReconnectTimeout is Ray's bound on a GCS outage, in seconds.
const envReconnectTimeout = "RAY_gcs_rpc_server_reconnect_timeout_s"

// defaultReconnectTimeout is Ray's default gcs_rpc_server_reconnect_timeout_s.
const defaultReconnectTimeout = 60 * time.Second

// exitProcess ends an orphaned driver (a variable for tests).
var exitProcess = os.Exit

// GCSLostError means the driver's cluster is gone: its head restarted
// without fault-tolerant storage (the new GCS has another cluster id and
// knows nothing of this job, its actors or objects), or the GCS was
// unreachable for longer than RAY_gcs_rpc_server_reconnect_timeout_s.
type GCSLostError struct {
	GcsAddress string
	// OldClusterID and NewClusterID are set when the head restarted.
	OldClusterID, NewClusterID string
	// Unreachable is how long the GCS did not answer, when it did not.
	Unreachable time.Duration
}

func (e *GCSLostError) Error() string {
	if e.NewClusterID != "" {
		return fmt.Sprintf("the head at %s restarted without GCS fault tolerance (cluster %s is now %s): this driver's job, actors and objects no longer exist; run the driver again (a head with RAY_REDIS_ADDRESS or --gcs-storage-path keeps them)",
			e.GcsAddress, e.OldClusterID, e.NewClusterID)
	}
	return fmt.Sprintf("the GCS at %s has not answered for %s (%s): giving up on the cluster",
		e.GcsAddress, e.Unreachable.Round(time.Second), envReconnectTimeout)
}

// judgeGCS is the driver's decision on its cluster: lost when a reply
// named another cluster than the one it joined, or when the GCS has not
// answered for longer than timeout. A new GCS incarnation with the same
// cluster id (a head restarted on durable storage) is the same cluster.
func judgeGCS(joined, seen string, lastContact, now time.Time, timeout time.Duration) *GCSLostError {
	if joined != "" && seen != "" && seen != joined {
		return &GCSLostError{OldClusterID: joined, NewClusterID: seen}
	}
	if timeout > 0 && now.Sub(lastContact) > timeout {
		return &GCSLostError{Unreachable: now.Sub(lastContact)}
	}
	return nil
}

// answered reports whether a call reached the GCS: it sent its headers, or
// it failed with anything but a transport failure or a deadline.
func answered(md metadata.MD, err error) bool {
	if err == nil || len(md) > 0 {
		return true
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return false
	}
	return true
}

// reconnectTimeout reads RAY_gcs_rpc_server_reconnect_timeout_s (seconds;
// default 60).
func reconnectTimeout(get func(string) string) (time.Duration, error) {
	v := get(envReconnectTimeout)
	if v == "" {
		return defaultReconnectTimeout, nil
	}
	s, err := strconv.ParseFloat(v, 64)
	if err != nil || s <= 0 {
		return defaultReconnectTimeout, fmt.Errorf("%s=%q is not a positive number of seconds; using %s", envReconnectTimeout, v, defaultReconnectTimeout)
	}
	return time.Duration(s * float64(time.Second)), nil
}

// clusterWatch follows the cluster id of the GCS's replies.
type clusterWatch struct {
	gcsAddr string
	now     func() time.Time
	timeout time.Duration
	onLost  func(*GCSLostError) // called once, without the lock

	mu          sync.Mutex
	joined      string // the cluster id this process belongs to ("" until known)
	lastContact time.Time
	lost        *GCSLostError
}

func newClusterWatch(gcsAddr, joined string, timeout time.Duration, now func() time.Time, onLost func(*GCSLostError)) *clusterWatch {
	return &clusterWatch{gcsAddr: gcsAddr, now: now, timeout: timeout, onLost: onLost, joined: joined, lastContact: now()}
}

// observe takes in a GCS reply (its headers and error) and returns the
// cluster's loss if this reply revealed it or it was known.
func (c *clusterWatch) observe(md metadata.MD, err error) *GCSLostError {
	seen := ""
	if v := md.Get(clusterIDHeader); len(v) > 0 {
		seen = v[0]
	}
	c.mu.Lock()
	if c.lost != nil {
		l := c.lost
		c.mu.Unlock()
		return l
	}
	now := c.now()
	if answered(md, err) {
		c.lastContact = now
	}
	if c.joined == "" {
		c.joined = seen
	}
	return c.judgeLocked(seen, now)
}

// check is the periodic decision (the unreachable bound).
func (c *clusterWatch) check() *GCSLostError {
	c.mu.Lock()
	if c.lost != nil {
		l := c.lost
		c.mu.Unlock()
		return l
	}
	return c.judgeLocked("", c.now())
}

// judgeLocked decides and, on a loss, records it and calls onLost; it
// releases c.mu.
func (c *clusterWatch) judgeLocked(seen string, now time.Time) *GCSLostError {
	l := judgeGCS(c.joined, seen, c.lastContact, now, c.timeout)
	if l == nil {
		c.mu.Unlock()
		return nil
	}
	l.GcsAddress = c.gcsAddr
	c.lost = l
	c.mu.Unlock()
	if c.onLost != nil {
		c.onLost(l)
	}
	return l
}

// outgoing names this process's cluster on a request, once known.
func (c *clusterWatch) outgoing(ctx context.Context) context.Context {
	c.mu.Lock()
	id := c.joined
	c.mu.Unlock()
	if id == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, clusterIDHeader, id)
}

// wrap returns cc with every unary call watched: sent with this process's
// cluster id, its reply's cluster id observed, and failed at once with the
// GCSLostError once the cluster is lost.
func (c *clusterWatch) wrap(cc grpc.ClientConnInterface) grpc.ClientConnInterface {
	return &watchedConn{cc: cc, w: c}
}

type watchedConn struct {
	cc grpc.ClientConnInterface
	w  *clusterWatch
}

func (c *watchedConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	if l := c.w.check(); l != nil {
		return l
	}
	var md metadata.MD
	err := c.cc.Invoke(c.w.outgoing(ctx), method, args, reply, append(opts, grpc.Header(&md))...)
	if l := c.w.observe(md, err); l != nil {
		return l
	}
	return err
}

func (c *watchedConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if l := c.w.check(); l != nil {
		return nil, l
	}
	return c.cc.NewStream(c.w.outgoing(ctx), desc, method, opts...)
}

// newClusterWatchFor makes the watch of a core worker: a worker starts in
// the cluster its node registered under (GORAY_CLUSTER_ID), a driver in the
// one of its first GCS reply.
func (w *Worker) newClusterWatchFor(cfg Config) *clusterWatch {
	timeout, err := reconnectTimeout(os.Getenv)
	if err != nil {
		w.log.Print(err)
	}
	if w.isWork {
		timeout = 0 // a worker's node ends it; it never gives up on its own
	}
	return newClusterWatch(cfg.GcsAddress, cfg.ClusterID, timeout, time.Now, w.gcsLost)
}

// watchCluster asks the GCS something cheap every clusterCheckInterval (a
// driver's own calls may be rare) and applies the unreachable bound.
func (w *Worker) watchCluster(ctx context.Context, cc grpc.ClientConnInterface) {
	gcs := rpcpb.NewGcsClient(cc)
	t := time.NewTicker(clusterCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// The reply is observed by the watched connection; a failure
		// counts only against the unreachable bound.
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = gcs.CheckAlive(rctx, &rpcpb.CheckAliveRequest{})
		cancel()
		if ctx.Err() != nil || w.cluster.check() != nil {
			return
		}
	}
}

// gcsLost ends a driver whose cluster is gone: every task it still waits
// for fails with the error (its Gets return it), and a driver of a remote
// cluster (ExitWhenGCSLost, the SDK's drivers) says why on stderr and exits
// with status 1 unless its program ends first.
func (w *Worker) gcsLost(l *GCSLostError) {
	w.log.Printf("%v", l)
	if w.isWork {
		return // its node kills it
	}
	w.mu.Lock()
	var acts []ownership.Action
	for id, pt := range w.pending {
		w.outcomeEvent(pt, l)
		acts = append(acts, w.failTaskLocked(pt, l)...)
		delete(w.pending, id)
	}
	w.mu.Unlock()
	w.do(acts)
	if w.cfg.ExitWhenGCSLost {
		fmt.Fprintf(os.Stderr, "goray: driver exiting: %v\n", l)
		time.AfterFunc(orphanExitGrace, func() { exitProcess(1) })
	}
}
