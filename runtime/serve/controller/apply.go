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
	"slices"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/internal/exehash"

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

// hashFile is exehash.File (a variable for the tests).
var hashFile = exehash.File

// binaryFor resolves the executable an application's import_path lives in:
// runtime_env.binary when set (see allowedBinary), else the controller's
// default.
func (c *Controller) binaryFor(a schema.ServeApplicationSchema) (string, error) {
	if b, ok := a.RuntimeEnv["binary"].(string); ok && b != "" {
		return c.allowedBinary(a.Name, b)
	}
	name := ""
	if c.cfg.DefaultBinary != "" {
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
			return "", bad("application %s: the default serve binary %s does not exist on the head", quote(a.Name), name)
		}
		return filepath.Abs(name)
	}
	p, err := exec.LookPath(name)
	if err != nil {
		return "", bad("application %s: cannot find the binary %q holding import_path %s on the head's PATH (set runtime_env.binary)", quote(a.Name), name, quote(a.ImportPath))
	}
	return filepath.Abs(p)
}

// BinaryDirs are the directories runtime_env.binary may name an executable
// in: this executable's (where the runtime image keeps goray-examples and
// an image built on it the user's binaries), the default binary's
// (Config.DefaultBinary, $GORAY_SERVE_BINARY) and each of
// $GORAY_SERVE_BINARY_DIRS (a list like PATH). A config cannot make the head
// run any other file.
func (c *Controller) BinaryDirs() []string {
	var dirs []string
	add := func(d string) {
		if d == "" || !filepath.IsAbs(d) {
			return
		}
		d = filepath.Clean(d)
		for _, o := range dirs {
			if o == d {
				return
			}
		}
		dirs = append(dirs, d)
	}
	if exe, err := os.Executable(); err == nil {
		add(filepath.Dir(exe))
	}
	for _, b := range []string{c.cfg.DefaultBinary, os.Getenv("GORAY_SERVE_BINARY")} {
		if strings.ContainsRune(b, filepath.Separator) {
			if abs, err := filepath.Abs(b); err == nil {
				add(filepath.Dir(abs))
			}
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("GORAY_SERVE_BINARY_DIRS")) {
		add(d)
	}
	return dirs
}

// allowedBinary resolves runtime_env.binary: a file name, looked up in
// BinaryDirs in order, or an absolute path (without "..") of a file in one
// of them; the file must be a regular, executable file. Anything else is
// a bad config, found before any file is read.
func (c *Controller) allowedBinary(app, name string) (string, error) {
	dirs := c.BinaryDirs()
	refuse := func(why string) error {
		return bad("application %s: runtime_env.binary %s %s; it must name an executable in the head's serve binary directories (%s), "+
			"by its file name or its path there", quote(app), quote(name), why, strings.Join(dirs, ", "))
	}
	for _, part := range strings.Split(filepath.ToSlash(name), "/") {
		if part == ".." {
			return "", refuse(`may not contain ".."`)
		}
	}
	p := ""
	switch {
	case filepath.IsAbs(name):
		p = filepath.Clean(name)
		if !slices.Contains(dirs, filepath.Dir(p)) {
			return "", refuse("does not exist in them")
		}
	case strings.ContainsRune(name, filepath.Separator) || name == ".":
		return "", refuse("is neither a file name nor an absolute path")
	default:
		for _, d := range dirs {
			if st, err := os.Stat(filepath.Join(d, name)); err == nil && !st.IsDir() {
				p = filepath.Join(d, name)
				break
			}
		}
		if p == "" {
			return "", refuse("does not exist in them")
		}
	}
	st, err := os.Stat(p)
	switch {
	case err != nil:
		return "", refuse("does not exist in them")
	case !st.Mode().IsRegular():
		return "", refuse("is not a regular file")
	case st.Mode().Perm()&0o111 == 0:
		return "", refuse("is not executable")
	}
	return p, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// quote is a user's string in a message: quoted, at most 128 bytes of it.
func quote(s string) string {
	if len(s) > 128 {
		return fmt.Sprintf("%q... (%d bytes)", s[:128], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// fileVersion identifies a file's content without reading it.
type fileVersion struct {
	path  string
	size  int64
	mtime time.Time
}

// hashOf is a binary's sha256, read once per version of the file (path,
// size, modification time): hashing a 17 MB binary costs ~15 ms of CPU,
// and a config may name it for every application.
func (c *Controller) hashOf(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	v := fileVersion{path: path, size: st.Size(), mtime: st.ModTime()}
	c.mu.Lock()
	h, ok := c.hashes[v]
	c.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err = hashFile(path)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	if c.hashes == nil {
		c.hashes = map[fileVersion]string{}
	}
	for old := range c.hashes {
		if old.path == path {
			delete(c.hashes, old)
		}
	}
	c.hashes[v] = h
	c.mu.Unlock()
	return h, nil
}

// binary is an application's resolved executable.
type binary struct{ path, hash string }

// resolveBinaries finds and hashes every application's binary, each
// distinct file once. It takes no lock a running apply holds: a bad binary
// is refused at once.
func (c *Controller) resolveBinaries(s *schema.ServeDeploySchema) ([]binary, error) {
	bins := make([]binary, len(s.Applications))
	hashes := map[string]string{}
	var problems []string
	for i, a := range s.Applications {
		p, err := c.binaryFor(a)
		if err != nil {
			if !IsBadConfig(err) {
				return nil, err
			}
			problems = append(problems, err.Error())
			continue
		}
		h, ok := hashes[p]
		if !ok {
			if h, err = c.hashOf(p); err != nil {
				problems = append(problems, fmt.Sprintf("application %s: read the binary %s: %v", quote(a.Name), p, err))
				continue
			}
			hashes[p] = h
		}
		bins[i] = binary{path: p, hash: h}
	}
	if len(problems) > 0 {
		return nil, &schema.ValidationError{Problems: problems}
	}
	return bins, nil
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
	bins, err := c.resolveBinaries(s)
	if err != nil {
		return err
	}
	c.applyMu.Lock()
	defer c.applyMu.Unlock()
	var plans []plan
	var problems []string
	var failed []failedApp
	for i, a := range s.Applications {
		p, err := c.planApp(ctx, a, bins[i])
		if msg, ok := deployFailure(err); ok {
			failed = append(failed, failedApp{spec: a, message: msg, at: c.cfg.Now()})
			continue
		}
		if err != nil {
			if !IsBadConfig(err) {
				return err
			}
			problems = append(problems, err.Error())
			continue
		}
		plans = append(plans, p)
	}
	problems = append(problems, c.replicaProblems(plans)...)
	if len(problems) > 0 {
		return &schema.ValidationError{Problems: problems}
	}
	now := c.cfg.Now()
	c.mu.Lock()
	c.deployed = s
	keep := map[string]bool{}
	for _, p := range plans {
		keep[p.spec.Name] = true
		c.applyApp(p, now)
	}
	c.setFailedLocked(failed, plans, keep)
	for name, a := range c.apps {
		if !keep[name] && !a.deleting {
			a.deleting = true
			c.log.Printf("serve: deleting application %s", name)
		}
	}
	c.mu.Unlock()
	// The config is accepted once it is durable: a head restarted after
	// this answer resumes with it. (Left applied when the write fails: the
	// reconcile loop writes it again.)
	if err := c.saveCheckpoint(ctx); err != nil {
		return fmt.Errorf("the config is applied but not yet durable: %w", err)
	}
	return nil
}

func (c *Controller) planApp(ctx context.Context, a schema.ServeApplicationSchema, bin binary) (plan, error) {
	path := bin.path
	j, err := c.jobFor(ctx, bin)
	if err != nil {
		return plan{}, err
	}
	info, ok := j.catalog.Apps[a.ImportPath]
	if !ok {
		var names []string
		for n := range j.catalog.Apps {
			names = append(names, n)
		}
		return plan{}, unregisteredImportPath(a, path, names) // DEPLOY_FAILED, as Ray reports an import that fails
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
			return plan{}, deployFailed("application %s: deployment %s is not in application %s (its deployments: %s)",
				quote(a.Name), quote(o.Name), quote(a.ImportPath), strings.Join(names, ", "))
		}
		merged := schema.Merge(base, o)
		check := schema.ServeDeploySchema{Applications: []schema.ServeApplicationSchema{{Name: a.Name, ImportPath: a.ImportPath,
			RoutePrefix: a.RoutePrefix, Deployments: []schema.DeploymentSchema{merged}}}}
		if err := schema.Validate(&check); err != nil {
			return plan{}, bad("application %s: deployment %s with the code's options: %v", quote(a.Name), quote(o.Name), err)
		}
		p.deps[o.Name] = merged
	}
	return p, nil
}

// replicaProblems checks the replica caps against what the plans resolve
// to, the code's options included: each deployment at most
// schema.MaxReplicasPerDeployment, all together at most the controller's
// MaxReplicas (counting each deployment at its most).
func (c *Controller) replicaProblems(plans []plan) []string {
	var problems []string
	total := 0
	for _, p := range plans {
		for _, d := range p.info.Deployments {
			n := schema.ReplicaUpperBound(schema.Resolve(p.deps[d.Name]))
			if n > schema.MaxReplicasPerDeployment {
				problems = append(problems, fmt.Sprintf("application %s: deployment %s may run %d replicas, more than the limit of %d per deployment",
					quote(p.spec.Name), quote(d.Name), n, schema.MaxReplicasPerDeployment))
			}
			total += min(n, schema.MaxReplicasPerDeployment+1)
		}
	}
	if total > c.cfg.MaxReplicas {
		problems = append(problems, fmt.Sprintf("applications: the deployments may run %d replicas together, more than the limit of %d per cluster "+
			"(GORAY_SERVE_MAX_REPLICAS on the head sets it)", total, c.cfg.MaxReplicas))
	}
	return problems
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
		d.spec, d.cfg, d.key = p.deps[name], r, key
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
			c.clearFailedLocked()
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
