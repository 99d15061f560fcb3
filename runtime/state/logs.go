package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LogOptions name a log and how much of it to read, as Ray's get_log: a
// file by NodeID (or NodeIP) and Filename, or the log of an ActorID, a
// TaskID (and Attempt), a SubmissionID's driver or a worker's PID (with
// NodeID or NodeIP).
type LogOptions struct {
	NodeID, NodeIP string
	Filename       string
	ActorID        string
	TaskID         string
	Attempt        int
	SubmissionID   string
	PID            int
	// Tail is how many last lines (0: Ray's default 1000; -1: the whole file).
	Tail int
	// Follow streams what is appended until Timeout (0: the server's 5 min).
	Follow   bool
	Interval time.Duration
	Timeout  time.Duration
}

func (o LogOptions) query() url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("node_id", o.NodeID)
	set("node_ip", o.NodeIP)
	set("filename", o.Filename)
	set("actor_id", o.ActorID)
	set("task_id", o.TaskID)
	set("submission_id", o.SubmissionID)
	if o.TaskID != "" {
		q.Set("attempt_number", strconv.Itoa(o.Attempt))
	}
	if o.PID != 0 {
		q.Set("pid", strconv.Itoa(o.PID))
	}
	if o.Tail != 0 {
		q.Set("lines", strconv.Itoa(o.Tail))
	}
	if o.Interval > 0 {
		q.Set("interval", strconv.FormatFloat(o.Interval.Seconds(), 'f', -1, 64))
	}
	if o.Timeout > 0 {
		q.Set("timeout", strconv.FormatFloat(o.Timeout.Seconds(), 'f', -1, 64))
	}
	return q
}

func (c *Client) do(ctx context.Context, path string, q url.Values) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.BaseURL+path+"?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusOK {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	msg := strings.TrimSpace(string(b))
	var env envelope
	if json.Unmarshal(b, &env) == nil && env.Msg != "" {
		msg = env.Msg
	}
	return nil, &Error{StatusCode: resp.StatusCode, Message: msg}
}

// GetLog writes a log's text to w as it arrives (following it with
// o.Follow until the timeout or ctx ends).
func (c *Client) GetLog(ctx context.Context, o LogOptions, w io.Writer) error {
	path := "/api/v0/logs/file"
	if o.Follow {
		path = "/api/v0/logs/stream"
	}
	resp, err := c.do(ctx, path, o.query())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return nil // the caller stopped following
	}
	return err
}

// ListLogs lists a node's log files by Ray's category (worker_out, driver,
// raylet, misc); glob narrows them ("" for all).
func (c *Client) ListLogs(ctx context.Context, nodeID, nodeIP, glob string) (map[string][]string, error) {
	q := url.Values{}
	if nodeID != "" {
		q.Set("node_id", nodeID)
	}
	if nodeIP != "" {
		q.Set("node_ip", nodeIP)
	}
	if glob != "" {
		q.Set("glob", glob)
	}
	raw, err := c.get(ctx, "/api/v0/logs", q)
	if err != nil {
		return nil, err
	}
	var out map[string][]string
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("bad log listing: %w", err)
	}
	return out, nil
}
