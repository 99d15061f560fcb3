package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Register mounts Ray's serve REST API on the dashboard's mux:
// PUT, GET and DELETE /api/serve/applications/.
func (c *Controller) Register(mux *http.ServeMux) {
	mux.HandleFunc("PUT /api/serve/applications/", c.put)
	mux.HandleFunc("GET /api/serve/applications/", c.get)
	mux.HandleFunc("DELETE /api/serve/applications/", c.delete)
	// Without the trailing slash too (the mux would redirect, and PUT bodies do not survive redirects).
	mux.HandleFunc("PUT /api/serve/applications", c.put)
	mux.HandleFunc("GET /api/serve/applications", c.get)
	mux.HandleFunc("DELETE /api/serve/applications", c.delete)
	mux.HandleFunc("PUT "+schema.TrafficSplitPath, c.putSplit)
	mux.HandleFunc("GET "+schema.TrafficSplitPath, c.getSplit)
}

func (c *Controller) put(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, schema.MaxConfigBytes))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		http.Error(w, fmt.Sprintf("the serve config is larger than the limit of %d bytes", schema.MaxConfigBytes), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	s, err := schema.Decode(b)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	if err := c.Apply(ctx, s); err != nil {
		if IsBadConfig(err) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (c *Controller) get(w http.ResponseWriter, r *http.Request) {
	switch t := r.URL.Query().Get("api_type"); t {
	case "", "declarative", "imperative":
	default:
		http.Error(w, fmt.Sprintf("Invalid 'api_type' value: %q. Must be one of: 'imperative', 'declarative'", t), http.StatusBadRequest)
		return
	}
	d := c.Details(r.Context())
	if r.URL.Query().Get("api_type") == "imperative" {
		d.Applications = map[string]*schema.ApplicationDetails{} // every goray app is declarative
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(d)
}

func (c *Controller) delete(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}
