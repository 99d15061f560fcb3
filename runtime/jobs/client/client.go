// Package client is the Go client of goray's (and Ray's) Jobs REST API on a
// head's dashboard port. The `goray job` CLI and the RayJob controller use
// it; it speaks the wire shapes of runtime/jobs/api and works against a Ray
// dashboard too, except for Tail, which uses the plain HTTP stream goray
// offers beside Ray's WebSocket.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/goray-dev/goray/runtime/jobs/api"
)

// DefaultAddress is the dashboard a client talks to when nothing else is set.
const DefaultAddress = "http://127.0.0.1:8265"

// Client talks to one dashboard.
type Client struct {
	// BaseURL is scheme://host:port, without a trailing slash.
	BaseURL string
	// HTTP is the client used for requests; nil means http.DefaultClient.
	HTTP *http.Client
}

// HTTPError is a non-2xx answer.
type HTTPError struct {
	Method, URL string
	StatusCode  int
	Body        string
}

func (e *HTTPError) Error() string {
	return fmt.Sprintf("%s %s: %d %s: %s", e.Method, e.URL, e.StatusCode, http.StatusText(e.StatusCode), strings.TrimSpace(e.Body))
}

// IsNotFound reports whether err is the dashboard's 404 (an unknown job).
func IsNotFound(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == http.StatusNotFound
}

// IsBadRequest reports whether the dashboard refused a request for what it
// asks, so that sending it again cannot succeed: a 400 (an invalid request,
// deleting a running job) or a taken submission id (IsDuplicate), which Ray
// answers with 500.
func IsBadRequest(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && he.StatusCode == http.StatusBadRequest || IsDuplicate(err)
}

// IsDuplicate reports whether err refused a submission because its
// submission id is taken. Ray answers that with 500 and words KubeRay's
// clients look for; earlier goray heads answered 400 with the same words.
func IsDuplicate(err error) bool {
	var he *HTTPError
	return errors.As(err, &he) && (he.StatusCode == http.StatusInternalServerError || he.StatusCode == http.StatusBadRequest) &&
		strings.Contains(he.Body, api.MsgDuplicateHint)
}

// NormalizeAddress turns host:port (as KubeRay passes it) into a base URL.
func NormalizeAddress(addr string) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		addr = DefaultAddress
	}
	if !strings.Contains(addr, "://") {
		addr = "http://" + addr
	}
	u, err := url.Parse(addr)
	if err != nil {
		return "", fmt.Errorf("dashboard address %q: %w", addr, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("dashboard address %q: scheme must be http or https", addr)
	}
	if u.Host == "" {
		return "", fmt.Errorf("dashboard address %q has no host", addr)
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}

// AddressFromEnv is the address the CLI uses without --address:
// RAY_DASHBOARD_ADDRESS, RAY_ADDRESS when it is an http(s) URL or has no
// GCS port, else DefaultAddress.
func AddressFromEnv() string {
	if a := os.Getenv("RAY_DASHBOARD_ADDRESS"); a != "" {
		return a
	}
	if a := os.Getenv("RAY_ADDRESS"); strings.HasPrefix(a, "http://") || strings.HasPrefix(a, "https://") {
		return a
	}
	return DefaultAddress
}

// New makes a client for a dashboard address (URL or host:port).
func New(address string) (*Client, error) {
	base, err := NormalizeAddress(address)
	if err != nil {
		return nil, err
	}
	return &Client{BaseURL: base}, nil
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// do sends a request and decodes a 2xx JSON answer into out (if non-nil).
func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	u := c.BaseURL + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return c.send(req, out)
}

// send sends a request and decodes a 2xx JSON answer into out (if non-nil).
func (c *Client) send(req *http.Request, out any) error {
	method, u := req.Method, req.URL.String()
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &HTTPError{Method: method, URL: u, StatusCode: resp.StatusCode, Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: bad JSON answer: %w", method, u, err)
		}
	}
	return nil
}

func jobPath(id string) string { return "/api/jobs/" + url.PathEscape(id) }

// Submit submits a job and returns its submission id.
func (c *Client) Submit(ctx context.Context, req api.SubmitRequest) (string, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return "", err
	}
	var out api.SubmitResponse
	if err := c.do(ctx, http.MethodPost, "/api/jobs/", bytes.NewReader(b), "application/json", &out); err != nil {
		return "", err
	}
	if out.SubmissionID == "" {
		return out.JobID, nil
	}
	return out.SubmissionID, nil
}

// Get returns a job's details; IsNotFound(err) for an unknown id.
func (c *Client) Get(ctx context.Context, id string) (*api.JobDetails, error) {
	var out api.JobDetails
	if err := c.do(ctx, http.MethodGet, jobPath(id), nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// List returns every job the dashboard knows.
func (c *Client) List(ctx context.Context) ([]api.JobDetails, error) {
	var out []api.JobDetails
	err := c.do(ctx, http.MethodGet, "/api/jobs/", nil, "", &out)
	return out, err
}

// Stop asks a job to stop; false when it had already ended.
func (c *Client) Stop(ctx context.Context, id string) (bool, error) {
	var out api.StopResponse
	err := c.do(ctx, http.MethodPost, jobPath(id)+"/stop", nil, "", &out)
	return out.Stopped, err
}

// Delete removes a terminal job.
func (c *Client) Delete(ctx context.Context, id string) (bool, error) {
	var out api.DeleteResponse
	err := c.do(ctx, http.MethodDelete, jobPath(id), nil, "", &out)
	return out.Deleted, err
}

// Logs returns a job's whole log so far.
func (c *Client) Logs(ctx context.Context, id string) (string, error) {
	var out api.LogsResponse
	err := c.do(ctx, http.MethodGet, jobPath(id)+"/logs", nil, "", &out)
	return out.Logs, err
}

// Version returns the dashboard's /api/version.
func (c *Client) Version(ctx context.Context) (*api.VersionResponse, error) {
	var out api.VersionResponse
	err := c.do(ctx, http.MethodGet, "/api/version", nil, "", &out)
	return &out, err
}

// Tail copies a job's log to w as it is written, returning when the job
// has ended and its log was copied, or when ctx ends.
func (c *Client) Tail(ctx context.Context, id string, w io.Writer) error {
	u := c.BaseURL + jobPath(id) + "/logs/tail"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.http().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return &HTTPError{Method: http.MethodGet, URL: u, StatusCode: resp.StatusCode, Body: string(b)}
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
