package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/core"
	"github.com/goray-dev/goray/runtime/node"
	"github.com/goray-dev/goray/runtime/serve/internal/wire"
	"github.com/goray-dev/goray/runtime/serve/schema"
)

// BadConfigError is a config the controller rejects (answered 400).
type BadConfigError struct{ Msg string }

func (e *BadConfigError) Error() string { return e.Msg }

func bad(format string, a ...any) error { return &BadConfigError{Msg: fmt.Sprintf(format, a...)} }

// IsBadConfig reports whether err is the config's fault.
func IsBadConfig(err error) bool {
	var b *BadConfigError
	return errors.As(err, &b) || schema.IsValidationError(err)
}

// binaryFor resolves the executable an application's import_path lives in.
func (c *Controller) binaryFor(a schema.ServeApplicationSchema) (string, error) {
	name := ""
	if b, ok := a.RuntimeEnv["binary"].(string); ok && b != "" {
		name = b
	} else if c.cfg.DefaultBinary != "" {
		name = c.cfg.DefaultBinary
	} else if b := os.Getenv("GORAY_SERVE_BINARY"); b != "" {
		name = b
	} else {
		name = "goray-examples"
		if exe, err := os.Executable(); err == nil {
			if p := filepath.Join(filepath.Dir(exe), name); fileExists(p) {
				return p, nil
			}
		}
	}
	if strings.ContainsRune(name, filepath.Separator) {
		if !fileExists(name) {
			return "", bad("application %q: binary %s does not exist on the head", a.Name, name)
		}
		return filepath.Abs(name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", bad("application %q: cannot find the binary %q holding import_path %q on the head's PATH (set runtime_env.binary)", a.Name, name, a.ImportPath)
	}
	return filepath.Abs(p)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// jobFor registers a binary as a job (once per content hash) and reads what
// it registered through a catalog actor.
func (c *Controller) jobFor(ctx context.Context, path string) (*job, error) {
	hash, err := node.HashFile(path)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	j, ok := c.jobs[hash]
	c.mu.Unlock()
	if ok {
		return j, nil
	}
	w, err := core.Start(core.Config{Security: c.cfg.Security, GcsAddress: c.cfg.GcsAddress, NodeAddress: c.cfg.NodeAddress, IP: c.cfg.NodeIP,
		Namespace: "serve", Logger: c.log})
	if err != nil {
		return nil, fmt.Errorf("start a core worker for %s: %w", path, err)
	}
	if err := w.RegisterJob(ctx, path); err != nil {
		w.Shutdown()
		return nil, err
	}
	id, err := w.NewActor(ctx, wire.CatalogClass, nil, core.ActorOptions{})
	var cat wire.Catalog
	if err == nil {
		dctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err = call(dctx, w, id, wire.CatalogDescribe, &cat)
		cancel()
		_ = w.KillActor(context.Background(), id, true)
	}
	if err != nil {
		w.Shutdown()
		if strings.Contains(err.Error(), "not registered in this binary") {
			return nil, bad("binary %s does not import goray's serve package (no serve applications are registered in it)", path)
		}
		return nil, fmt.Errorf("read the serve applications registered in %s: %w", path, err)
	}
	j = &job{path: path, hash: hash, w: w, catalog: cat}
	c.mu.Lock()
	if old, ok := c.jobs[hash]; ok {
		c.mu.Unlock()
		w.Shutdown()
		return old, nil
	}
	c.jobs[hash] = j
	c.mu.Unlock()
	return j, nil
}

// plan is a validated application ready to apply.
type plan struct {
	spec schema.ServeApplicationSchema
	job  *job
	info wire.AppInfo
	deps map[string]schema.DeploymentSchema // merged code options + overrides
}

// Apply validates a deploy config and, only if all of it is good, makes it
// the desired state: new applications start, missing ones are deleted,
// changed ones update.
func (c *Controller) Apply(ctx context.Context, s *schema.ServeDeploySchema) error {
	if err := schema.Validate(s); err != nil {
		return err
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	var plans []plan
	var problems []string
	for _, a := range s.Applications {
		p, err := c.planApp(ctx, a)
		if err != nil {
			if !IsBadConfig(err) {
				return err
			}
			problems = append(problems, err.Error())
			continue
		}
		plans = append(plans, p)
	}
	if len(problems) > 0 {
		return &schema.ValidationError{Problems: problems}
	}
	now := c.cfg.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deployed = s
	keep := map[string]bool{}
	for _, p := range plans {
		keep[p.spec.Name] = true
		c.applyApp(p, now)
	}
	for name, a := range c.apps {
		if !keep[name] && !a.deleting {
			a.deleting = true
			c.log.Printf("serve: deleting application %s", name)
		}
	}
	return nil
}

func (c *Controller) planApp(ctx context.Context, a schema.ServeApplicationSchema) (plan, error) {
	path, err := c.binaryFor(a)
	if err != nil {
		return plan{}, err
	}
	j, err := c.jobFor(ctx, path)
	if err != nil {
		return plan{}, err
	}
	info, ok := j.catalog.Apps[a.ImportPath]
	if !ok {
		var names []string
		for n := range j.catalog.Apps {
			names = append(names, n)
		}
		sort.Strings(names)
		return plan{}, bad("application %q: import_path %q is not an application registered in %s (registered: %s)",
			a.Name, a.ImportPath, filepath.Base(path), strings.Join(names, ", "))
	}
	p := plan{spec: a, job: j, info: info, deps: map[string]schema.DeploymentSchema{}}
	for _, d := range info.Deployments {
		p.deps[d.Name] = d
	}
	for _, o := range a.Deployments {
		base, ok := p.deps[o.Name]
		if !ok {
			var names []string
			for _, d := range info.Deployments {
				names = append(names, d.Name)
			}
			return plan{}, bad("application %q: deployment %q is not in application %q (its deployments: %s)",
				a.Name, o.Name, a.ImportPath, strings.Join(names, ", "))
		}
		merged := schema.Merge(base, o)
		check := schema.ServeDeploySchema{Applications: []schema.ServeApplicationSchema{{Name: a.Name, ImportPath: a.ImportPath,
			RoutePrefix: a.RoutePrefix, Deployments: []schema.DeploymentSchema{merged}}}}
		if err := schema.Validate(&check); err != nil {
			return plan{}, bad("application %q: deployment %q with the code's options: %v", a.Name, o.Name, err)
		}
		p.deps[o.Name] = merged
	}
	return p, nil
}

// replicaKey is what forces new replicas when it changes.
func replicaKey(job string, r schema.Resolved) string {
	b, _ := json.Marshal([]any{job, r.Resources, r.MaxReplicasPerNode})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

func (c *Controller) applyApp(p plan, now time.Time) {
	a, ok := c.apps[p.spec.Name]
	if ok && (a.deleting || a.job != p.job || a.spec.ImportPath != p.spec.ImportPath) {
		// A different application under the same name: replace it whole.
		if !a.deleting {
			a.deleting = true
		}
		old := a
		delete(c.apps, p.spec.Name)
		c.apps[p.spec.Name+"\x00old"+newReplicaID()] = old
		ok = false
	}
	if !ok {
		a = &app{name: p.spec.Name, deps: map[string]*dep{}}
		c.apps[p.spec.Name] = a
		c.log.Printf("serve: deploying application %s (import_path %s from %s)", p.spec.Name, p.spec.ImportPath, p.job.path)
	} else {
		c.log.Printf("serve: updating application %s", p.spec.Name)
	}
	a.spec, a.job, a.info, a.deployedAt = p.spec, p.job, p.info, now
	a.order = nil
	for _, ds := range p.info.Deployments {
		name := ds.Name
		a.order = append(a.order, name)
		r := schema.Resolve(p.deps[name])
		key := replicaKey(p.job.hash, r)
		d, exists := a.deps[name]
		if !exists {
			d = &dep{app: a, name: name}
			a.deps[name] = d
			if r.Autoscaling != nil {
				d.target = InitialReplicas(*r.Autoscaling, c.deployedCapacity())
			}
		} else if d.cfg.Autoscaling == nil && r.Autoscaling != nil {
			d.target = InitialReplicas(*r.Autoscaling, c.deployedCapacity())
		}
		changed := !exists || key != d.key || string(r.UserConfig) != string(d.cfg.UserConfig) ||
			r.NumReplicas != d.cfg.NumReplicas || (r.Autoscaling == nil) != (d.cfg.Autoscaling == nil)
		d.cfg, d.key = r, key
		d.failures, d.lastFailure = 0, ""
		if changed {
			d.status, d.lastChange = schema.DepUpdating, schema.TriggerConfigUpdateCompleted
		}
	}
	a.status = schema.AppDeploying
}

func (c *Controller) deployedCapacity() *float64 {
	if c.deployed == nil {
		return nil
	}
	return c.deployed.TargetCapacity
}

// Shutdown deletes every application and waits (up to ctx) for their replicas to stop.
func (c *Controller) Shutdown(ctx context.Context) error {
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	c.mu.Lock()
	for _, a := range c.apps {
		a.deleting = true
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		n := len(c.apps)
		if n == 0 {
			c.deployed = nil
		}
		c.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("serve shutdown: %d application(s) still stopping: %w", n, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
