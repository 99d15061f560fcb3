// Package client is the Go client of the serve REST API on a head's
// dashboard (:8265) and of the proxies' health endpoint (:8000), for the
// RayService controller and `goray serve`.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Path is Ray's serve REST path (KubeRay's DeployPathV2 / ServeDetailsPath).
const Path = "/api/serve/applications/"

// Client talks to one head's dashboard.
type Client struct {
	base string
	http *http.Client
}

// New makes a client for a dashboard address: "http://host:8265", or
// "host:port" / "host" (port 8265).
func New(address string) *Client { return NewWithTransport(address, nil) }

// NewWithTransport is New with requests sent through rt (nil:
// http.DefaultTransport) — e.g. auth.Config.Transport, which adds the
// cluster's token.
func NewWithTransport(address string, rt http.RoundTripper) *Client {
	return &Client{base: BaseURL(address), http: &http.Client{Timeout: 3 * time.Minute, Transport: rt}}
}

// BaseURL normalizes a dashboard address.
func BaseURL(address string) string {
	a := strings.TrimRight(strings.TrimSpace(address), "/")
	if a == "" {
		return "http://127.0.0.1:8265"
	}
	if !strings.Contains(a, "://") {
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, "8265")
		}
		a = "http://" + a
	}
	return a
}

// HTTPError is a non-2xx answer; Body holds the server's explanation.
type HTTPError struct {
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("HTTP %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// IsBadConfig reports whether err is a 400 (the config was rejected and the
// running applications were left as they were).
func IsBadConfig(err error) bool {
	var h *HTTPError
	return errors.As(err, &h) && h.Status == http.StatusBadRequest
}

func (c *Client) do(ctx context.Context, method, path string, body []byte) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &HTTPError{Status: resp.StatusCode, Body: string(b)}
	}
	return b, nil
}

// ParseConfig reads a serve config in YAML (a RayService's serveConfigV2, a
// `serve build` file) or JSON.
func ParseConfig(data []byte) (*schema.ServeDeploySchema, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("serve config is not valid YAML: %w", err)
	}
	return schema.Decode(j)
}

// Put deploys a config (PUT /api/serve/applications/).
func (c *Client) Put(ctx context.Context, cfg *schema.ServeDeploySchema) error {
	b, err := json.Marshal(cfg)
	if err != nil {
		return err
	}
	return c.PutJSON(ctx, b)
}

// PutYAML deploys a YAML (or JSON) config as is, like serveConfigV2.
func (c *Client) PutYAML(ctx context.Context, data []byte) error {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("serve config is not valid YAML: %w", err)
	}
	return c.PutJSON(ctx, j)
}

// PutJSON deploys a JSON ServeDeploySchema.
func (c *Client) PutJSON(ctx context.Context, body []byte) error {
	_, err := c.do(ctx, http.MethodPut, Path, body)
	return err
}

// Get reads the status (GET /api/serve/applications/?api_type=declarative).
func (c *Client) Get(ctx context.Context) (*schema.ServeInstanceDetails, error) {
	b, err := c.do(ctx, http.MethodGet, Path+"?api_type=declarative", nil)
	if err != nil {
		return nil, err
	}
	var d schema.ServeInstanceDetails
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("decode ServeInstanceDetails: %w", err)
	}
	return &d, nil
}

// Delete shuts serve down (DELETE /api/serve/applications/), deleting every application.
func (c *Client) Delete(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodDelete, Path, nil)
	return err
}

// AllRunning reports whether every application of d is RUNNING (and there is one).
func AllRunning(d *schema.ServeInstanceDetails) bool {
	if d == nil || len(d.Applications) == 0 {
		return false
	}
	for _, a := range d.Applications {
		if a.Status != schema.AppRunning {
			return false
		}
	}
	return true
}

// ProxyHealthz probes a node's proxy: nil when GET http://ip:port/-/healthz
// answers 200 "success" (port 0 = 8000).
func ProxyHealthz(ctx context.Context, podIP string, port int) error {
	if port == 0 {
		port = schema.DefaultHTTPPort
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(podIP, strconv.Itoa(port))+"/-/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "success") {
		return &HTTPError{Status: resp.StatusCode, Body: string(b)}
	}
	return nil
}

// PutTrafficSplit sets the share of HTTP requests the cluster's proxies
// forward to another cluster (PUT /api/serve/traffic_split/, goray's API
// for a RayService's incremental upgrade).
func (c *Client) PutTrafficSplit(ctx context.Context, s schema.TrafficSplit) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPut, schema.TrafficSplitPath, b)
	return err
}

// GetTrafficSplit reads the split in force (GET /api/serve/traffic_split/).
func (c *Client) GetTrafficSplit(ctx context.Context) (schema.TrafficSplit, error) {
	b, err := c.do(ctx, http.MethodGet, schema.TrafficSplitPath, nil)
	if err != nil {
		return schema.TrafficSplit{}, err
	}
	var s schema.TrafficSplit
	if err := json.Unmarshal(b, &s); err != nil {
		return schema.TrafficSplit{}, fmt.Errorf("decode traffic split: %w", err)
	}
	return s, nil
}
