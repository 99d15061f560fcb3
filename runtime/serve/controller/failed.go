package controller

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// Ray answers a PUT whose config is well formed with 200 and reports what
// goes wrong while building an application — an import_path that does not
// import, a deployment override naming no deployment of it — as that
// application's DEPLOY_FAILED status, the others deploying as usual. So
// does goray: KubeRay's RayService samples name Python import paths
// (fruit.deployment_graph), and a RayService must show per application
// why it is not running instead of a refused config. What Ray refuses with
// 400 — a config of the wrong shape, duplicate names or routes, invalid
// field values — and goray's own limits stay a 400 (BadConfigError).

// deployFailedError is an application that cannot be built from its binary:
// its status becomes DEPLOY_FAILED with Msg.
type deployFailedError struct{ Msg string }

func (e *deployFailedError) Error() string { return e.Msg }

func deployFailed(format string, a ...any) error {
	return &deployFailedError{Msg: fmt.Sprintf(format, a...)}
}

// deployFailure is err's message when it fails one application only.
func deployFailure(err error) (string, bool) {
	var f *deployFailedError
	if errors.As(err, &f) {
		return f.Msg, true
	}
	return "", false
}

// failedApp is an application of the deployed config that failed to build
// (Controller.failed holds them by name, under mu: the last applied
// config's; nil until a config is applied in this process).
type failedApp struct {
	spec    schema.ServeApplicationSchema
	message string
	at      time.Time
}

// unregisteredImportPath is the DEPLOY_FAILED message of an import_path the
// binary does not register, with what it registers. A Python import path
// gets the way to name a Go application instead.
func unregisteredImportPath(a schema.ServeApplicationSchema, binPath string, registered []string) error {
	sort.Strings(registered)
	have := "none"
	if len(registered) > 0 {
		have = strings.Join(registered, ", ")
	}
	msg := fmt.Sprintf("application %s: import_path %s is not an application registered in %s (registered: %s).",
		quote(a.Name), quote(a.ImportPath), filepath.Base(binPath), have)
	if looksLikePython(a.ImportPath) {
		msg += " It looks like a Python import path: goray runs Go programs, and an import_path names an application a Go binary " +
			`registers with serve.Application("<import_path>", ...). Build the deployments into a Go binary, put it in the head's ` +
			"serve binary directories (the runtime image's /usr/local/bin, or $GORAY_SERVE_BINARY_DIRS) and name it in the " +
			"application's runtime_env.binary."
	}
	return deployFailed("%s", msg)
}

// looksLikePython reports an import path in Ray's shape: module.attr or
// module:attr (Go applications register plain names like "hello").
func looksLikePython(p string) bool {
	return strings.ContainsAny(p, ".:")
}

// setFailedLocked records the applications of a newly applied config that
// failed to build (replacing the last config's). An application of that
// name already running keeps serving, as in Ray, while its status says
// the new version failed: it is kept (keep) unless an application of the
// new config (plans) takes its route.
func (c *Controller) setFailedLocked(failed []failedApp, plans []plan, keep map[string]bool) {
	routes := map[string]bool{}
	for _, p := range plans {
		routes[p.spec.Route()] = true
	}
	c.failed = map[string]failedApp{}
	for _, f := range failed {
		c.failed[f.spec.Name] = f
		c.log.Printf("serve: application %s failed to deploy: %s", f.spec.Name, f.message)
		if old, ok := c.apps[f.spec.Name]; ok && !routes[old.spec.Route()] {
			keep[f.spec.Name] = true
		}
	}
}

// failedDetailsLocked puts the failed applications into d: over the
// details of a running version, or alone. After a head restart (the
// config is in the checkpoint, the failures are not), an application of
// the deployed config that nothing runs is reported failed too, until the
// config is applied again.
func (c *Controller) failedDetailsLocked(d map[string]*schema.ApplicationDetails) {
	for name, f := range c.failed {
		msg := fmt.Sprintf("Deploying application %s failed: %s", name, f.message)
		if ad, ok := d[name]; ok {
			ad.Status, ad.Message = schema.AppDeployFailed, msg
			continue
		}
		d[name] = failedDetails(f.spec, msg, f.at)
	}
	if c.deployed == nil || c.failed != nil {
		return
	}
	for _, a := range c.deployed.Applications {
		if _, ok := d[a.Name]; !ok {
			d[a.Name] = failedDetails(a, fmt.Sprintf("Application %s of the deployed config is not running: it failed to deploy, "+
				"or to resume after the head restarted. Apply the config again to retry and see why.", a.Name), time.Time{})
		}
	}
}

// clearFailedLocked forgets the failures when every application is deleted.
func (c *Controller) clearFailedLocked() { c.failed = map[string]failedApp{} }

func failedDetails(spec schema.ServeApplicationSchema, msg string, at time.Time) *schema.ApplicationDetails {
	rp := spec.Route()
	at0 := 0.0
	if !at.IsZero() {
		at0 = unixS(at)
	}
	return &schema.ApplicationDetails{Name: spec.Name, RoutePrefix: &rp, DocsPath: spec.DocsPath, Status: schema.AppDeployFailed,
		Message: msg, LastDeployedTimeS: at0, DeployedAppConfig: &spec, Source: "declarative",
		ExternalScalerEnabled: spec.ExternalScalerEnabled, Deployments: map[string]*schema.DeploymentDetails{}}
}
