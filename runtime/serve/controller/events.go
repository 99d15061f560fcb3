package controller

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/clusterevents"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Serve's cluster events: an application's status changes (DEPLOYING,
// RUNNING, UNHEALTHY, DEPLOY_FAILED, DELETING) and its removal, reported to
// the GCS (source SERVE) after the reconcile round that saw them.

// maxPendingEvents bounds the events held while the GCS does not take them.
const maxPendingEvents = 1000

// noteAppStatusLocked queues an event when reconciling changed a's status
// from prev.
func (c *Controller) noteAppStatusLocked(a *app, prev string) {
	if a.status == prev || a.status == "" {
		return
	}
	sev := clusterevents.Info
	switch a.status {
	case schema.AppDeployFailed:
		sev = clusterevents.Error
	case schema.AppUnhealthy:
		sev = clusterevents.Warning
	}
	msg := fmt.Sprintf("Application '%s' is %s", a.name, a.status)
	if a.message != "" {
		msg += ": " + a.message
	}
	c.queueEventLocked(sev, msg, map[string]string{"application": a.name, "status": a.status})
}

// noteAppDeletedLocked queues the event of an application's removal.
func (c *Controller) noteAppDeletedLocked(name string) {
	c.queueEventLocked(clusterevents.Info, fmt.Sprintf("Application '%s' was deleted", name), map[string]string{"application": name})
}

func (c *Controller) queueEventLocked(sev, msg string, fields map[string]string) {
	msg = fitEvent(msg, clusterevents.MaxMessageBytes)
	for k, v := range fields {
		fields[k] = fitEvent(v, clusterevents.MaxFieldValue)
	}
	if len(c.events) >= maxPendingEvents {
		c.events = c.events[1:]
	}
	c.events = append(c.events, &rpcpb.ClusterEvent{Severity: sev, SourceType: clusterevents.SourceServe, Message: msg, CustomFields: fields})
}

// sendEvents reports the queued events; those the GCS did not take wait
// for the next round.
func (c *Controller) sendEvents(ctx context.Context) {
	c.mu.Lock()
	batch := c.events
	c.events = nil
	c.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := c.cfg.GCS.AddClusterEvents(ctx, &rpcpb.ClusterEventBatch{Events: batch})
	if status.Code(err) == codes.InvalidArgument {
		c.log.Printf("serve: cluster events refused: %v", err) // never storable: not retried
		return
	}
	if err != nil {
		c.mu.Lock()
		c.events = append(batch, c.events...)
		if n := len(c.events) - maxPendingEvents; n > 0 {
			c.events = c.events[n:]
		}
		c.mu.Unlock()
	}
}

// fitEvent makes s a valid event string (UTF-8, as protobuf needs) of at
// most n bytes, cut between characters.
func fitEvent(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
