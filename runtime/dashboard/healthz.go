package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// HealthPath is Ray's unified health check (Ray 2.53, what KubeRay probes
// for such clusters): the local node manager and, where the GCS is local,
// the GCS, in one answer. Open, like the other health paths.
const HealthPath = "/api/healthz"

// healthz answers HealthPath as Ray's HealthzAgent does: one line per
// check, "raylet: <result>" and "gcs: <result>", 200 when both passed and
// 503 when either failed. Both checks run at once, so a failed one does not
// hide the other's state.
type healthz struct {
	gcs rpcpb.GcsClient
	// node is the local node manager's address; "" when there is none.
	node string
	// localGCS: the GCS is this process's or this pod's, so its health is
	// this endpoint's business.
	localGCS bool
}

func (h healthz) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), time.Second)
	defer cancel()
	var raylet, gcs string
	var rayletErr, gcsErr error
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		raylet = "success"
		if h.node == "" {
			raylet = "success (no local raylet)"
			return
		}
		rayletErr = rayletAlive(ctx, h.gcs, h.node)
	}()
	go func() {
		defer wg.Done()
		gcs = "success"
		if !h.localGCS {
			gcs = "success (no local gcs)"
			return
		}
		if _, err := h.gcs.CheckAlive(ctx, &rpcpb.CheckAliveRequest{}); err != nil {
			gcsErr = fmt.Errorf("GCS health check failed: %w", err)
		}
	}()
	wg.Wait()
	code := http.StatusOK
	line := func(name, ok string, err error) string {
		if err != nil {
			code = http.StatusServiceUnavailable
			return name + ": " + oneLine(err.Error())
		}
		return name + ": " + ok
	}
	body := line("raylet", raylet, rayletErr) + "\n" + line("gcs", gcs, gcsErr)
	w.Header().Set("Content-Type", "application/text")
	w.WriteHeader(code)
	_, _ = fmt.Fprint(w, body)
}

// errRayletDead is the answer for a node the GCS holds dead.
var errRayletDead = errors.New("Local Raylet failed") //nolint:staticcheck // Ray's text, capitalised

// rayletAlive asks the GCS whether the node manager at addr is alive. An
// unreachable GCS (Unavailable, Unknown, DeadlineExceeded) is not the
// node's failure, as in Ray: a node whose GCS stays away ends by itself.
func rayletAlive(ctx context.Context, gcs rpcpb.GcsClient, addr string) error {
	rep, err := gcs.CheckAlive(ctx, &rpcpb.CheckAliveRequest{Addresses: []string{addr}})
	if err != nil {
		switch status.Code(err) {
		case codes.Unavailable, codes.Unknown, codes.DeadlineExceeded:
			return nil
		}
		return fmt.Errorf("Local Raylet failed: %w", err) //nolint:staticcheck // Ray's text, capitalised
	}
	if len(rep.Alive) != 1 || !rep.Alive[0] {
		return errRayletDead
	}
	return nil
}

// oneLine keeps an error on its line of the answer.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }
