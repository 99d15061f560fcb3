package state

import "context"

// ClusterEvent is Ray's ClusterEventState: Time is UTC to the second as Ray
// writes it; CustomFields (with Detail) name what the event is about and
// hold timestamp_ms.
type ClusterEvent struct {
	Severity     string         `json:"severity"`
	Time         string         `json:"time"`
	SourceType   string         `json:"source_type"`
	Message      string         `json:"message"`
	EventID      string         `json:"event_id"`
	CustomFields map[string]any `json:"custom_fields,omitempty"`
}

// ListClusterEvents lists the newest cluster events, oldest first; filters
// may name severity, source_type and event_id.
func (c *Client) ListClusterEvents(ctx context.Context, o Options) ([]ClusterEvent, Meta, error) {
	var out []ClusterEvent
	meta, err := c.list(ctx, "cluster_events", o, &out)
	return out, meta, err
}
