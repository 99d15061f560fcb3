// Package serve is goray's Ray Serve for Go programs: HTTP deployments whose
// replicas run as actors on the cluster's nodes behind an HTTP proxy on every
// node (:8000).
//
// Register deployments and applications at package level in the binary the
// cluster runs (the same executable serves as the worker processes):
//
//	type Config struct{ Greeting string `json:"greeting"` }
//
//	var hello = serve.Deployment("Hello", func(ctx context.Context, cfg Config) (http.Handler, error) {
//		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			fmt.Fprintln(w, cfg.Greeting)
//		}), nil
//	}, serve.NumReplicas(2))
//
//	var _ = serve.Application("hello", hello)
//
// A serve config then names the application by its import_path ("hello").
// The deployment's user_config (JSON) is decoded into the config type; when it
// changes, a handler implementing Reconfigurable[C] is reconfigured in place,
// any other handler is rebuilt and swapped, without restarting the replica.
// Handlers may implement HealthChecker and Shutdowner too.
//
// Requests reach the ingress deployment with the route prefix stripped from
// the path (X-Forwarded-Prefix carries it); other deployments of the
// application are called through a Handle.
//
// A deployment serves gRPC by returning a GRPCServer with its services
// registered (their generated RegisterXServer functions): the serve gRPC
// proxy on every node (:9000) routes calls to it by the "application"
// metadata key, and other deployments call it with Handle.GRPC.
package serve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Reconfigurable handlers take a new user_config in place.
type Reconfigurable[C any] interface {
	Reconfigure(ctx context.Context, cfg C) error
}

// HealthChecker handlers report their health (checked every health_check_period_s).
type HealthChecker interface {
	CheckHealth(ctx context.Context) error
}

// Shutdowner handlers are told when their replica stops, after it drained.
type Shutdowner interface {
	Shutdown(ctx context.Context)
}

// DeploymentDef is a registered deployment.
type DeploymentDef struct {
	name string
	opts schema.DeploymentSchema
	// build decodes a user_config ("" = none) and builds a handler.
	build func(ctx context.Context, userConfig string) (http.Handler, error)
	// reconfigure updates h in place if it supports it (ok false otherwise).
	reconfigure func(ctx context.Context, h http.Handler, userConfig string) (ok bool, err error)
}

// Name is the deployment's name.
func (d *DeploymentDef) Name() string { return d.name }

// Option sets a deployment's default options (a serve config overrides them).
type Option func(*schema.DeploymentSchema)

// NumReplicas sets a fixed replica count.
func NumReplicas(n int) Option {
	return func(s *schema.DeploymentSchema) { s.NumReplicas = &schema.NumReplicas{N: n}; s.AutoscalingConfig = nil }
}

// Autoscaling turns on replica autoscaling.
func Autoscaling(c schema.AutoscalingConfig) Option {
	return func(s *schema.DeploymentSchema) { s.AutoscalingConfig = &c; s.NumReplicas = nil }
}

// MaxOngoingRequests sets the per-replica concurrency limit (default 5).
func MaxOngoingRequests(n int) Option {
	return func(s *schema.DeploymentSchema) { s.MaxOngoingRequests = &n }
}

// MaxQueuedRequests sets the queue bound past which requests are shed (-1 = unlimited).
func MaxQueuedRequests(n int) Option {
	return func(s *schema.DeploymentSchema) { s.MaxQueuedRequests = &n }
}

// NumCPUs sets the CPUs each replica reserves (default 1).
func NumCPUs(n float64) Option {
	return func(s *schema.DeploymentSchema) {
		if s.RayActorOptions == nil {
			s.RayActorOptions = &schema.RayActorOptions{}
		}
		s.RayActorOptions.NumCPUs = &n
	}
}

// UserConfig sets the default user_config (JSON-encoded).
func UserConfig(v any) Option {
	return func(s *schema.DeploymentSchema) {
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("serve.UserConfig: %v", err))
		}
		s.UserConfig = b
	}
}

// WithSchema sets any option as a serve config's deployment entry would.
func WithSchema(o schema.DeploymentSchema) Option {
	return func(s *schema.DeploymentSchema) { *s = schema.Merge(*s, o) }
}

var registry = struct {
	sync.Mutex
	deps map[string]*DeploymentDef
	apps map[string]wire.AppInfo
}{deps: map[string]*DeploymentDef{}, apps: map[string]wire.AppInfo{}}

func decodeConfig[C any](userConfig string) (C, error) {
	var c C
	if userConfig == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(userConfig), &c); err != nil {
		return c, fmt.Errorf("decode user_config into %T: %w", c, err)
	}
	return c, nil
}

// Deployment registers a deployment whose replicas serve the handler build
// returns for the deployment's user_config, decoded into C (zero if none).
// Call it at package level; names are unique in the binary.
func Deployment[C any](name string, build func(ctx context.Context, cfg C) (http.Handler, error), opts ...Option) *DeploymentDef {
	d := &DeploymentDef{name: name, opts: schema.DeploymentSchema{Name: name}}
	for _, o := range opts {
		o(&d.opts)
	}
	d.opts.Name = name
	d.build = func(ctx context.Context, uc string) (http.Handler, error) {
		c, err := decodeConfig[C](uc)
		if err != nil {
			return nil, err
		}
		return build(ctx, c)
	}
	d.reconfigure = func(ctx context.Context, h http.Handler, uc string) (bool, error) {
		r, ok := h.(Reconfigurable[C])
		if !ok {
			return false, nil
		}
		c, err := decodeConfig[C](uc)
		if err != nil {
			return true, err
		}
		return true, r.Reconfigure(ctx, c)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.deps[name]; dup {
		panic(fmt.Sprintf("serve: deployment %q registered twice", name))
	}
	registry.deps[name] = d
	return d
}

// App is a registered application.
type App struct{ name string }

// Name is the application's import path.
func (a *App) Name() string { return a.name }

// Application registers an application under importPath: the ingress
// deployment takes its HTTP traffic, the others are reached through Handles.
func Application(importPath string, ingress *DeploymentDef, others ...*DeploymentDef) *App {
	info := wire.AppInfo{Ingress: ingress.name}
	seen := map[string]bool{}
	for _, d := range append([]*DeploymentDef{ingress}, others...) {
		if seen[d.name] {
			panic(fmt.Sprintf("serve: application %q lists deployment %q twice", importPath, d.name))
		}
		seen[d.name] = true
		info.Deployments = append(info.Deployments, d.opts)
	}
	registry.Lock()
	defer registry.Unlock()
	if _, dup := registry.apps[importPath]; dup {
		panic(fmt.Sprintf("serve: application %q registered twice", importPath))
	}
	registry.apps[importPath] = info
	return &App{name: importPath}
}

func lookupDeployment(name string) (*DeploymentDef, bool) {
	registry.Lock()
	defer registry.Unlock()
	d, ok := registry.deps[name]
	return d, ok
}

func catalog() wire.Catalog {
	registry.Lock()
	defer registry.Unlock()
	c := wire.Catalog{Apps: map[string]wire.AppInfo{}}
	for k, v := range registry.apps {
		c.Apps[k] = v
	}
	return c
}
