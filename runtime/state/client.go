// Package state is the Go client of a cluster's state API (the head's
// /api/v0 endpoints, Ray's ray.util.state): list and summarize tasks,
// actors, nodes, placement groups and jobs with Ray's filters, as typed
// values or as raw rows in Ray's field names.
//
//	c, _ := state.New("http://127.0.0.1:8265")
//	failed, _ := c.ListTasks(ctx, state.Options{Filters: []state.Filter{{"state", "=", "FAILED"}}, Detail: true})
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

	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
)

// Resources are the kinds the state API lists, as the URL and `goray list` name them.
var Resources = []string{"actors", "cluster_events", "jobs", "nodes", "objects", "placement_groups", "tasks", "workers"}

// Client talks to one head's dashboard.
type Client struct {
	// BaseURL is scheme://host:port.
	BaseURL string
	// HTTP sends the requests (nil: http.DefaultClient); give it a
	// transport that adds the cluster's token when auth is on.
	HTTP *http.Client
}

// New makes a client for a dashboard address (URL or host:port).
func New(address string) (*Client, error) {
	base, err := jobclient.NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	return &Client{BaseURL: base}, nil
}

// Filter is one of Ray's filters: Key, "=" or "!=", Value.
type Filter struct{ Key, Predicate, Value string }

// ParseFilter reads Ray's CLI form "key=value" or "key!=value".
func ParseFilter(s string) (Filter, error) {
	if k, v, ok := strings.Cut(s, "!="); ok {
		return Filter{strings.TrimSpace(k), "!=", strings.TrimSpace(v)}, nil
	}
	if k, v, ok := strings.Cut(s, "="); ok {
		return Filter{strings.TrimSpace(k), "=", strings.TrimSpace(v)}, nil
	}
	return Filter{}, fmt.Errorf("filter %q: want key=value or key!=value", s)
}

// Options narrow a list: Limit (Ray's default 100), Detail (the detail
// columns too), Filters (all must hold).
type Options struct {
	Limit   int
	Detail  bool
	Filters []Filter
}

func (o Options) query() url.Values {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Detail {
		q.Set("detail", "true")
	}
	for _, f := range o.Filters {
		q.Add("filter_keys", f.Key)
		q.Add("filter_predicates", f.Predicate)
		q.Add("filter_values", f.Value)
	}
	return q
}

// Meta is what a list says about itself.
type Meta struct {
	Total       int      `json:"total"`
	NumFiltered int      `json:"num_filtered"`
	Warnings    []string `json:"warnings"`
}

// Error is an answer the state API refused or failed.
type Error struct {
	StatusCode int
	Message    string
}

func (e *Error) Error() string {
	return fmt.Sprintf("state API: %d %s: %s", e.StatusCode, http.StatusText(e.StatusCode), e.Message)
}

// envelope is Ray's dashboard answer.
type envelope struct {
	Result bool            `json:"result"`
	Msg    string          `json:"msg"`
	Data   json.RawMessage `json:"data"`
}

// get answers Ray's envelope's data.result of a GET (do turns a refusal
// into an Error).
func (c *Client) get(ctx context.Context, path string, q url.Values) (json.RawMessage, error) {
	resp, err := c.do(ctx, path, q)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil {
		return nil, err
	}
	var env envelope
	if err := json.Unmarshal(b, &env); err != nil {
		return nil, fmt.Errorf("GET %s: bad JSON answer: %w", path, err)
	}
	if !env.Result {
		return nil, &Error{StatusCode: resp.StatusCode, Message: env.Msg}
	}
	var data struct {
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(env.Data, &data); err != nil {
		return nil, err
	}
	return data.Result, nil
}

// List returns a resource's rows as Ray's field names hold them.
func (c *Client) List(ctx context.Context, resource string, o Options) ([]map[string]any, Meta, error) {
	var rows []map[string]any
	meta, err := c.list(ctx, resource, o, &rows)
	return rows, meta, err
}

func (c *Client) list(ctx context.Context, resource string, o Options, out any) (Meta, error) {
	if !knownResource(resource) {
		return Meta{}, fmt.Errorf("unknown resource %q; one of %s", resource, strings.Join(Resources, ", "))
	}
	raw, err := c.get(ctx, "/api/v0/"+resource, o.query())
	if err != nil {
		return Meta{}, err
	}
	var page struct {
		Meta
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return Meta{}, err
	}
	return page.Meta, json.Unmarshal(page.Result, out)
}

func knownResource(r string) bool {
	for _, x := range Resources {
		if x == r {
			return true
		}
	}
	return false
}

// Summary returns /api/v0/{tasks,actors,objects}/summarize's cluster summary.
func (c *Client) Summary(ctx context.Context, resource string, filters []Filter) (map[string]any, error) {
	if resource != "tasks" && resource != "actors" && resource != "objects" {
		return nil, fmt.Errorf("no summary of %q: tasks, actors or objects", resource)
	}
	raw, err := c.get(ctx, "/api/v0/"+resource+"/summarize", Options{Filters: filters}.query())
	if err != nil {
		return nil, err
	}
	var page struct {
		Result struct {
			NodeIDToSummary map[string]map[string]any `json:"node_id_to_summary"`
		} `json:"result"`
	}
	if err := json.Unmarshal(raw, &page); err != nil {
		return nil, err
	}
	s, ok := page.Result.NodeIDToSummary["cluster"]
	if !ok {
		return nil, errors.New("the summary has no cluster entry")
	}
	return s, nil
}
