package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/goray-dev/goray/runtime/serve/internal/routes"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// SetTrafficSplit makes the proxies forward s.Percent of the HTTP requests
// to s.TargetURL (see routes.Split); it reaches them with the next routing
// table, within a tick.
func (c *Controller) SetTrafficSplit(s schema.TrafficSplit) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.Percent == 0 {
		s.TargetURL = ""
	}
	c.split = routes.Split{Target: s.TargetURL, Percent: s.Percent}
}

// TrafficSplit is the split in force.
func (c *Controller) TrafficSplit() schema.TrafficSplit {
	c.mu.Lock()
	defer c.mu.Unlock()
	return schema.TrafficSplit{TargetURL: c.split.Target, Percent: c.split.Percent}
}

func (c *Controller) putSplit(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, schema.MaxTrafficSplitBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("the traffic split is larger than the limit of %d bytes", schema.MaxTrafficSplitBytes), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s, err := schema.DecodeTrafficSplit(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.SetTrafficSplit(s)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.TrafficSplit())
}

func (c *Controller) getSplit(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(c.TrafficSplit())
}
