// Package hello is goray's serve example: the application "hello" with two
// deployments. "Hello" (the ingress) answers text and reaches "Echo" through a
// deployment handle; "Echo" answers its user_config, which it takes in place
// (Reconfigure) when the config changes. Deploy it with a serve config:
//
//	applications:
//	  - name: hello
//	    route_prefix: /
//	    import_path: hello
//	    deployments:
//	      - name: Hello
//	        num_replicas: 2
//	      - name: Echo
//	        user_config: {message: "hi"}
//
// Paths of the ingress: "/" answers "Hello from goray serve!", "/echo"
// answers Echo's user_config message, "/config" Hello's own user_config,
// "/cluster" the RayCluster the replica runs in ($RAY_CLUSTER_NAME, set in
// every Ray container of a pod the operator makes; "" elsewhere).
// "?sleep_ms=N" on any path holds the request N milliseconds (for load tests).
package hello

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/goray-dev/goray/runtime/serve"
)

// HelloConfig is Hello's user_config.
type HelloConfig struct {
	Greeting string `json:"greeting"`
}

// EchoConfig is Echo's user_config.
type EchoConfig struct {
	Message string `json:"message"`
}

func hold(r *http.Request) {
	if ms, err := strconv.Atoi(r.URL.Query().Get("sleep_ms")); err == nil && ms > 0 {
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
		}
	}
}

// Hello is the ingress deployment.
var Hello = serve.Deployment("Hello", func(ctx context.Context, cfg HelloConfig) (http.Handler, error) {
	greeting := cfg.Greeting
	if greeting == "" {
		greeting = "Hello from goray serve!"
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hold(r)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, greeting)
	})
	mux.HandleFunc("/pid", func(w http.ResponseWriter, r *http.Request) {
		hold(r)
		fmt.Fprintln(w, os.Getpid())
	})
	mux.HandleFunc("/cluster", func(w http.ResponseWriter, r *http.Request) {
		hold(r)
		fmt.Fprintln(w, os.Getenv("RAY_CLUSTER_NAME"))
	})
	mux.HandleFunc("/config", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(cfg)
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		h, err := serve.GetHandle("Echo")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		b, err := h.Get(r.Context(), "/?"+r.URL.RawQuery)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = w.Write(b)
	})
	return mux, nil
}, serve.NumReplicas(1), serve.NumCPUs(0.1))

// echo answers its user_config's message; Reconfigure swaps it in place.
type echo struct {
	mu  sync.RWMutex
	msg string
}

func (e *echo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hold(r)
	e.mu.RLock()
	msg := e.msg
	e.mu.RUnlock()
	w.Header().Set("Content-Type", "text/plain")
	fmt.Fprintln(w, msg)
}

// Reconfigure takes a new user_config without restarting the replica.
func (e *echo) Reconfigure(ctx context.Context, cfg EchoConfig) error {
	e.mu.Lock()
	e.msg = cfg.Message
	e.mu.Unlock()
	return nil
}

// CheckHealth is called every health_check_period_s; the message
// "unhealthy" makes it fail (to show replicas being replaced).
func (e *echo) CheckHealth(ctx context.Context) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.msg == "unhealthy" {
		return fmt.Errorf("user_config says unhealthy")
	}
	return nil
}

// Echo answers its user_config.
var Echo = serve.Deployment("Echo", func(ctx context.Context, cfg EchoConfig) (http.Handler, error) {
	return &echo{msg: cfg.Message}, nil
}, serve.NumReplicas(1), serve.NumCPUs(0.1), serve.UserConfig(EchoConfig{Message: "hello"}))

// App is the application "hello" (import_path: hello).
var App = serve.Application("hello", Hello, Echo)
