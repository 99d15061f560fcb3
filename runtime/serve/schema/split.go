package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
)

// TrafficSplitPath is goray's serve API for a RayService's incremental
// upgrade (no Ray counterpart): PUT sets the share of HTTP requests the
// cluster's proxies forward to another cluster's serve proxies, GET answers
// the share in force. The operator calls it on the active cluster's
// dashboard at each step of a NewClusterWithIncrementalUpgrade.
const TrafficSplitPath = "/api/serve/traffic_split/"

// MaxTrafficSplitBytes bounds the body of PUT TrafficSplitPath (larger: 413).
const MaxTrafficSplitBytes = 4 << 10

// TrafficSplit is the body of PUT TrafficSplitPath and the answer of GET.
type TrafficSplit struct {
	// TargetURL is where forwarded requests go: "http://host:port" or
	// "https://host:port" (no path, query or user); "" with percent 0.
	TargetURL string `json:"target_url"`
	// Percent of the requests go to TargetURL, 0..100.
	Percent int `json:"percent"`
}

// DecodeTrafficSplit parses and checks a TrafficSplit: unknown fields, a
// percent outside 0..100, a target URL that is not a bare http(s) base, and
// a percent above 0 without a target are refused.
func DecodeTrafficSplit(b []byte) (TrafficSplit, error) {
	var s TrafficSplit
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return TrafficSplit{}, fmt.Errorf("traffic split: %w", err)
	}
	if dec.More() {
		return TrafficSplit{}, fmt.Errorf("traffic split: more than one JSON value")
	}
	if s.Percent < 0 || s.Percent > 100 {
		return TrafficSplit{}, fmt.Errorf("traffic split: percent must be between 0 and 100, got %d", s.Percent)
	}
	if s.TargetURL == "" {
		if s.Percent != 0 {
			return TrafficSplit{}, fmt.Errorf("traffic split: percent %d needs a target_url", s.Percent)
		}
		return s, nil
	}
	u, err := url.Parse(s.TargetURL)
	if err != nil {
		return TrafficSplit{}, fmt.Errorf("traffic split: target_url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") ||
		u.RawQuery != "" || u.Fragment != "" {
		return TrafficSplit{}, fmt.Errorf("traffic split: target_url must be http://host:port or https://host:port, got %q", s.TargetURL)
	}
	s.TargetURL = u.Scheme + "://" + u.Host
	return s, nil
}
