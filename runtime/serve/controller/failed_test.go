package controller

import (
	"context"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/serve/schema"
)

// A well-formed config whose applications cannot all be built is accepted,
// as Ray accepts it: the ones that fail are DEPLOY_FAILED with the reason,
// the others deploy. KubeRay's sample (Python import paths) gets the way
// to name a Go application.
func TestUnbuildableApplicationsAreDeployFailed(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	err := tc.apply(t, `{"applications":[
		{"name":"fruit_app","route_prefix":"/fruit","import_path":"fruit.deployment_graph",
		 "runtime_env":{"working_dir":"https://github.com/ray-project/test_dag/archive/78b4a5da.zip"},
		 "deployments":[{"name":"MangoStand","num_replicas":2}]},
		{"name":"mobilenet","route_prefix":"/mobilenet","import_path":"mobilenet.mobilenet:app"},
		{"name":"plain","route_prefix":"/plain","import_path":"nosuchapp"},
		{"name":"override","route_prefix":"/override","import_path":"hello","deployments":[{"name":"Nope"}]},
		{"name":"good","route_prefix":"/good","import_path":"hello"}]}`)
	if err != nil {
		t.Fatalf("Apply: %v, want it accepted", err)
	}
	apps := tc.c.Details(context.Background()).Applications
	if len(apps) != 5 {
		t.Fatalf("%d applications, want 5: %v", len(apps), apps)
	}
	if g := apps["good"]; g.Status != schema.AppDeploying || len(g.Deployments) != 1 {
		t.Errorf("good: %s %q with %d deployments, want DEPLOYING with its deployment", g.Status, g.Message, len(g.Deployments))
	}
	for name, want := range map[string][]string{
		"fruit_app": {`Deploying application fruit_app failed: application "fruit_app": import_path "fruit.deployment_graph" is not an application registered in app (registered: hello).`,
			"goray runs Go programs", `serve.Application("<import_path>", ...)`, "runtime_env.binary"},
		"mobilenet": {`import_path "mobilenet.mobilenet:app"`, "goray runs Go programs"},
		"plain":     {`import_path "nosuchapp" is not an application registered in app (registered: hello).`},
		"override":  {`deployment "Nope" is not in application "hello" (its deployments: D)`},
	} {
		a := apps[name]
		if a == nil || a.Status != schema.AppDeployFailed || a.DeployedAppConfig == nil || a.DeployedAppConfig.ImportPath == "" ||
			a.RoutePrefix == nil || len(a.Deployments) != 0 {
			t.Errorf("%s: %+v, want DEPLOY_FAILED with its config and no deployments", name, a)
			continue
		}
		for _, w := range want {
			if !strings.Contains(a.Message, w) {
				t.Errorf("%s: message %q lacks %q", name, a.Message, w)
			}
		}
		if name == "plain" && strings.Contains(a.Message, "Python") {
			t.Errorf("plain: %q takes a Go name for Python", a.Message)
		}
	}
	// Nothing runs for a failed application: no route, no deployment.
	tc.c.mu.Lock()
	_, running := tc.c.apps["fruit_app"]
	tc.c.mu.Unlock()
	if running {
		t.Error("fruit_app has an application running")
	}

	// A running application whose new version fails keeps serving, its
	// status saying the update failed; one left out of the next config
	// is gone from the status.
	tc.c.mu.Lock()
	tc.c.apps["good"].status = schema.AppRunning
	tc.c.mu.Unlock()
	if err := tc.apply(t, `{"applications":[{"name":"good","route_prefix":"/good","import_path":"fruit.deployment_graph"}]}`); err != nil {
		t.Fatal(err)
	}
	apps = tc.c.Details(context.Background()).Applications
	if len(apps) != 1 || apps["good"].Status != schema.AppDeployFailed || len(apps["good"].Deployments) != 1 ||
		!strings.Contains(apps["good"].Message, "fruit.deployment_graph") {
		t.Fatalf("after a failed update: %v", apps)
	}
	tc.c.mu.Lock()
	good := tc.c.apps["good"]
	tc.c.mu.Unlock()
	if good == nil || good.deleting {
		t.Fatal("the running version of good was deleted by a failed update")
	}

	// A head restarted with the checkpoint reports the failed application
	// (the config holds it, nothing runs it) until the config is applied again.
	if err := tc.apply(t, `{"applications":[{"name":"good","route_prefix":"/good","import_path":"hello"},
		{"name":"fruit_app","route_prefix":"/fruit","import_path":"fruit.deployment_graph"}]}`); err != nil {
		t.Fatal(err)
	}
	ck, found, err := loadCheckpoint(context.Background(), tc.c.cfg.GCS)
	if err != nil || !found {
		t.Fatalf("checkpoint: %v %v", found, err)
	}
	// Restored without a loop: New's resume would find no job for good
	// here (this test has no cluster) and drop it, racing the check below.
	fresh := &Controller{cfg: tc.c.cfg, log: tc.c.log, apps: map[string]*app{}, jobs: map[string]*job{}}
	fresh.restoreLocked(ck)
	apps = fresh.Details(context.Background()).Applications
	if f := apps["fruit_app"]; f == nil || f.Status != schema.AppDeployFailed || !strings.Contains(f.Message, "Apply the config again") {
		t.Errorf("fruit_app after a restart: %+v", f)
	}
	if g := apps["good"]; g == nil || g.Status == schema.AppDeployFailed {
		t.Errorf("good after a restart: %+v", g)
	}
}

// A config of the wrong shape or with invalid values is still refused
// whole with 400, as Ray refuses it, even next to a Python import path.
func TestMalformedConfigStillRefused(t *testing.T) {
	tc := newTestController(t, schema.DeploymentSchema{})
	for _, cfg := range []string{
		`{"applications":[{"name":"a","route_prefix":"/a","import_path":"fruit.deployment_graph"},{"name":"a","route_prefix":"/b","import_path":"hello"}]}`,
		`{"applications":[{"name":"a","route_prefix":"/a","import_path":"fruit.deployment_graph","deployments":[{"name":"X","num_replicas":-1}]}]}`,
		`{"applications":[{"name":"a","route_prefix":"a","import_path":"fruit.deployment_graph"}]}`,
	} {
		err := tc.apply(t, cfg)
		if err == nil || !IsBadConfig(err) {
			t.Errorf("%s: %v, want a bad config", cfg, err)
		}
	}
	if apps := tc.c.Details(context.Background()).Applications; len(apps) != 0 {
		t.Errorf("refused configs left applications: %v", apps)
	}
}
