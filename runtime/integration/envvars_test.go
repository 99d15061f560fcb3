package integration

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/ray"
)

// envSeen is what a worker sees of the variables a test looks at, and
// where it runs.
type envSeen struct {
	Greeting, Color string
	Node            string
	PID             int
}

func seeEnv(ctx context.Context) envSeen {
	return envSeen{Greeting: os.Getenv("IT_GREETING"), Color: os.Getenv("IT_COLOR"), Node: ray.NodeID(), PID: os.Getpid()}
}

var readEnv = ray.Task("it.read_env", func(ctx context.Context, _ int) (envSeen, error) { return seeEnv(ctx), nil })

// readEnvChild reads the environment in a task it submits without options:
// the child inherits its parent's runtime_env.
var readEnvChild = ray.Task("it.read_env_child", func(ctx context.Context, _ int) (envSeen, error) {
	return ray.Get(ctx, readEnv.Remote(ctx, 0))
})

type envActor struct{}

var envActorClass = ray.Actor("it.EnvActor", func(ctx context.Context) (*envActor, error) { return &envActor{}, nil })

var envActorRead = ray.Method0(envActorClass, "read", func(a *envActor, ctx context.Context) (envSeen, error) {
	return seeEnv(ctx), nil
})

// Per-task and per-actor runtime_env env_vars (Ray's runtime_env
// {"env_vars": ...}): a task and an actor with variables see them, on the
// head and both nodes; a task without them runs in another worker and does
// not; a child task inherits its parent's; a bad variable is the caller's
// error at once.
func TestTaskAndActorEnvVars(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hi := ray.EnvVars(map[string]string{"IT_GREETING": "hello", "IT_COLOR": "blue"})
	for _, ip := range []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"} {
		on := ray.NodeAffinity(nodeIDs[ip], false)
		with, err := ray.Get(ctx, readEnv.Remote(ctx, 0, hi, on))
		if err != nil {
			t.Fatal(err)
		}
		if with.Greeting != "hello" || with.Color != "blue" || with.Node != nodeIDs[ip] {
			t.Fatalf("%s: a task with env_vars saw %+v", ip, with)
		}
		without, err := ray.Get(ctx, readEnv.Remote(ctx, 0, on))
		if err != nil {
			t.Fatal(err)
		}
		if without.Greeting != "" || without.Color != "" || without.PID == with.PID {
			t.Fatalf("%s: a task without env_vars saw %+v (pid %d; the other ran in %d)", ip, without, without.PID, with.PID)
		}
	}
	child, err := ray.Get(ctx, readEnvChild.Remote(ctx, 0, ray.EnvVars(map[string]string{"IT_GREETING": "inherited"})))
	if err != nil || child.Greeting != "inherited" {
		t.Fatalf("child of a task with env_vars: %+v, %v", child, err)
	}
	a, err := envActorClass.Remote(ctx, ray.EnvVars(map[string]string{"IT_COLOR": "green"}), ray.NodeAffinity(nodeIDs["127.0.0.3"], false))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ray.Kill(ctx, a, true) }()
	got, err := ray.Get(ctx, envActorRead.Remote(ctx, a))
	if err != nil || got.Color != "green" || got.Greeting != "" {
		t.Fatalf("actor with env_vars saw %+v, %v", got, err)
	}
	for _, bad := range []map[string]string{{"A=B": "x"}, {"GORAY_NODE_ID": "spoof"}, {"NUL": "a\x00b"}, {"": "x"}} {
		_, err := ray.Get(ctx, readEnv.Remote(ctx, 0, ray.EnvVars(bad)))
		if err == nil || !strings.Contains(err.Error(), "env_vars") {
			t.Fatalf("env_vars %q: %v, want an error about env_vars", bad, err)
		}
	}
}
