package main

import (
	"testing"
	"time"
)

func TestServeDrainWait(t *testing.T) {
	for _, tc := range []struct {
		env, k8s string
		want     time.Duration
	}{
		{"", "", 0},
		{"", "10.0.0.1", 3 * time.Second},
		{"0", "10.0.0.1", 0},
		{"1.5", "", 1500 * time.Millisecond},
		{"-1", "10.0.0.1", 3 * time.Second}, // refused: the default
		{"x", "", 0},
		{"601", "", 0},
	} {
		t.Setenv("GORAY_SERVE_DRAIN_S", tc.env)
		t.Setenv("KUBERNETES_SERVICE_HOST", tc.k8s)
		if got := serveDrainWait(); got != tc.want {
			t.Errorf("GORAY_SERVE_DRAIN_S=%q KUBERNETES_SERVICE_HOST=%q: %v, want %v", tc.env, tc.k8s, got, tc.want)
		}
	}
}
