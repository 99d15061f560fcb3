package integration

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/ray"
	stateapi "github.com/goray-dev/goray/runtime/state"
)

// A driver that dies without ray.Shutdown (SIGKILL) ends its job all the
// same: the GCS finds it gone (runtime/gcs/driverwatch.go), marks the job
// finished and kills its non-detached actors; its detached ones live on.

// dyingDriverEnv starts this test binary as the dying driver:
// "<gcs address> <node id> <owned name> <detached name>".
const dyingDriverEnv = "GORAY_IT_DYING_DRIVER"

// dyingDriver creates a non-detached and a detached counter on the node,
// calls each once, prints "<job id> <owned id> <detached id>" and waits to
// be killed, holding their handles.
func dyingDriver(arg string) int {
	f := strings.Fields(arg)
	if len(f) != 4 {
		fmt.Fprintf(os.Stderr, "%s=%q: want 4 fields\n", dyingDriverEnv, arg)
		return 2
	}
	ctx := context.Background()
	if err := ray.Init(ctx, ray.WithAddress(f[0])); err != nil {
		fmt.Fprintln(os.Stderr, "init:", err)
		return 1
	}
	place := []any{ray.NumCPUs(0), ray.NodeAffinity(f[1], false), ray.Namespace("it-driver"), ray.MaxRestarts(3)}
	owned, err := gcCounterClass.Remote(ctx, append(place, ray.Name(f[2]))...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "owned actor:", err)
		return 1
	}
	detached, err := gcCounterClass.Remote(ctx, append(place, ray.Name(f[3]), ray.Detached())...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "detached actor:", err)
		return 1
	}
	for _, h := range []ray.ActorHandle[gcCounter]{owned, detached} {
		if _, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, h)); err != nil {
			fmt.Fprintln(os.Stderr, "call:", err)
			return 1
		}
	}
	fmt.Printf("%s %s %s\n", ray.JobID(), owned.ID, detached.ID)
	time.Sleep(5 * time.Minute) // the test kills it long before
	fmt.Fprintln(os.Stderr, "the driver was not killed")
	return 1
}

// driverRun numbers the test's runs (-count): each names its actors anew.
var driverRun int

func TestActorDiesWithItsDriver(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	actorNode := startOwnNode(t, "127.0.0.27")
	driverRun++
	owned, detached := "owned-"+strconv.Itoa(driverRun), "detached-"+strconv.Itoa(driverRun)
	defer func() {
		if h, err := ray.GetActor(context.Background(), gcCounterClass, detached, "it-driver"); err == nil {
			_ = ray.Kill(context.Background(), h, true)
		}
	}()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), dyingDriverEnv+"="+strings.Join([]string{gcsAddress, actorNode.id, owned, detached}, " "))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if f := strings.Fields(sc.Text()); len(f) == 3 {
				lines <- sc.Text()
				return
			}
		}
		close(lines)
	}()
	var fields []string
	select {
	case l, ok := <-lines:
		if !ok {
			t.Fatal("the driver exited without printing its actors")
		}
		fields = strings.Fields(l)
	case <-time.After(60 * time.Second):
		t.Fatal("the driver printed no actors within 60 s")
	}
	jobID, ownedID, detachedID := fields[0], fields[1], fields[2]
	ownedA, detachedA := aliveActor(ctx, t, ownedID), aliveActor(ctx, t, detachedID)
	if j := stateJob(ctx, t, jobID); j.Status != "RUNNING" {
		t.Fatalf("the driver's job is %s while it runs", j.Status)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Shutdown
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed := time.Now()
	// Found dead after about 10 s of refused probes (at most 60 s here: a
	// bound on a loaded machine, not a performance check).
	var a stateapi.Actor
	awaitFor(t, 60*time.Second, "the driver's non-detached actor DEAD", func() bool {
		a = stateActor(ctx, t, ownedID)
		return a.State == "DEAD"
	})
	t.Logf("the non-detached actor was DEAD %v after its driver was killed", time.Since(killed).Round(time.Second))
	if a.DeathCause == nil || !strings.Contains(a.DeathCause.Context.ErrorMessage, actors.OwnerDiedCause) ||
		!strings.Contains(a.DeathCause.Context.ErrorMessage, "driver of job "+jobID) {
		t.Fatalf("death cause %+v, want %q naming the driver of job %s", a.DeathCause, actors.OwnerDiedCause, jobID)
	}
	if a.NumRestarts != 0 {
		t.Fatalf("the non-detached actor restarted %d times after its driver died", a.NumRestarts)
	}
	awaitFor(t, 10*time.Second, "the non-detached actor's worker "+strconv.Itoa(ownedA.PID)+" to exit", func() bool { return processGone(ownedA.PID) })
	if j := stateJob(ctx, t, jobID); j.Status != "SUCCEEDED" {
		t.Fatalf("the dead driver's job is %s, want finished (SUCCEEDED, as Ray lists a driver job that ended)", j.Status)
	}

	// The detached actor outlives its driver and answers.
	if d := stateActor(ctx, t, detachedID); d.State != "ALIVE" || processGone(detachedA.PID) {
		t.Fatalf("the detached actor is %s (%+v), worker gone %v, after its driver died", d.State, d.DeathCause, processGone(detachedA.PID))
	}
	dh, err := ray.GetActor(ctx, gcCounterClass, detached, "it-driver")
	if err != nil {
		t.Fatal(err)
	}
	defer dh.Release()
	if n, err := ray.Get(ctx, gcCounterIncr.Remote(ctx, dh)); err != nil || n != 2 {
		t.Fatalf("the detached actor's call after its driver died = %d, %v", n, err)
	}
}

// stateJob reads a job from the dashboard's state API.
func stateJob(ctx context.Context, t *testing.T, id string) stateapi.Job {
	t.Helper()
	c, err := stateapi.New(dashboardAddress)
	if err != nil {
		t.Fatal(err)
	}
	js, _, err := c.ListJobs(ctx, stateapi.Options{Filters: []stateapi.Filter{{Key: "job_id", Predicate: "=", Value: id}}})
	if err != nil || len(js) != 1 {
		t.Fatalf("state API: job %s: %v, %v", id, js, err)
	}
	return js[0]
}
