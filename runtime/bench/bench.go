// Package bench is `goray microbenchmark`: Ray's core microbenchmarks
// (ray/_private/ray_perf.py metric names) on goray, plus a raw gRPC unary
// round trip on loopback as the floor, measured in the same run.
package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
	"github.com/goray-dev/goray/runtime/ray"
)

var noop = ray.Task("bench.noop", func(ctx context.Context, x int) (int, error) { return x, nil })

type actorState struct{}

var benchActor = ray.Actor("bench.Actor", func(ctx context.Context) (*actorState, error) { return &actorState{}, nil })

var actorNoop = ray.Method(benchActor, "noop", func(s *actorState, ctx context.Context, x int) (int, error) { return x, nil })

// submitMany runs n noop tasks from inside an actor (a second client).
var submitMany = ray.Method(benchActor, "submit", func(s *actorState, ctx context.Context, n int) (int, error) {
	refs := make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = noop.Remote(ctx, i)
	}
	_, err := ray.GetAll(ctx, refs...)
	return n, err
})

// countTo yields 0..n-1 (the generator throughput figure).
var countTo = ray.Generator("bench.count", func(ctx context.Context, n int, yield func(int) error) error {
	for i := range n {
		if err := yield(i); err != nil {
			return err
		}
	}
	return nil
})

type pinger struct {
	rpcpb.UnimplementedCoreWorkerServer
}

func (pinger) Ping(ctx context.Context, in *rpcpb.PingRequest) (*rpcpb.PingRequest, error) {
	return in, nil
}

// Result is one metric.
type Result struct {
	Name  string
	Value float64
	Unit  string
}

func rate(n int, d time.Duration) float64 { return float64(n) / d.Seconds() }

// Run runs the benchmarks whose names match (every one when match is nil)
// and prints lines as Ray does ("name per second value").
//
// With cpu, each line also says how much CPU the step used in this
// process and every process under it (the embedded cluster's): on a
// machine shared with other work, a steadier measure of what a change
// costs than the rate, which follows the machine's load.
func Run(ctx context.Context, out io.Writer, scale int, match func(name string) bool, cpu bool) ([]Result, error) {
	r := &runner{ctx: ctx, scale: scale}
	var res []Result
	for _, s := range steps {
		if match != nil && !match(s.name) {
			continue
		}
		var c0 float64
		if cpu {
			c0, _ = TreeCPU()
		}
		v, err := s.run(r)
		if err != nil {
			return res, fmt.Errorf("%s: %w", s.name, err)
		}
		res = append(res, Result{s.name, v, s.unit})
		if c1, ok := TreeCPU(); cpu && ok {
			fmt.Fprintf(out, "%-36s %14.2f %s  cpu %.2f s\n", s.name, v, s.unit, c1-c0)
			continue
		}
		fmt.Fprintf(out, "%-36s %14.2f %s\n", s.name, v, s.unit)
	}
	return res, nil
}

// Names lists the benchmarks in the order Run runs them.
func Names() []string {
	out := make([]string, len(steps))
	for i, s := range steps {
		out[i] = s.name
	}
	return out
}

// runner is what the steps share: workers warmed up once, the two client
// actors made by the first step that needs them.
type runner struct {
	ctx     context.Context
	scale   int
	warm    bool
	clients []ray.ActorHandle[actorState]
	puts    []ray.Ref[int]
}

func (r *runner) warmUp() error {
	if r.warm {
		return nil
	}
	warm := make([]ray.Ref[int], 100)
	for i := range warm {
		warm[i] = noop.Remote(r.ctx, i)
	}
	_, err := ray.GetAll(r.ctx, warm...)
	r.warm = err == nil
	return err
}

func (r *runner) clientActors() ([]ray.ActorHandle[actorState], error) {
	if r.clients != nil {
		return r.clients, nil
	}
	clients := make([]ray.ActorHandle[actorState], 2)
	for i := range clients {
		var err error
		if clients[i], err = benchActor.Remote(r.ctx, ray.NumCPUs(0)); err != nil {
			return nil, err
		}
		if _, err := ray.Get(r.ctx, actorNoop.Remote(r.ctx, clients[i], 0)); err != nil {
			return nil, err
		}
	}
	r.clients = clients
	return clients, nil
}

type step struct {
	name, unit string
	run        func(r *runner) (float64, error)
}

var steps = []step{
	{"raw_grpc_unary_roundtrip", perSecond, rawGRPC},
	{"single_client_tasks_sync", perSecond, tasksSync},
	{"single_client_tasks_async", perSecond, tasksAsync},
	{"multi_client_tasks_async", perSecond, multiClientTasks},
	{"1_1_actor_calls_sync", perSecond, actorCallsSync},
	{"1_1_actor_calls_async", perSecond, actorCallsAsync},
	{"1_1_actor_calls_concurrent", perSecond, actorCallsConcurrent},
	{"n_n_actor_calls_async", perSecond, nnActorCalls},
	{"single_client_put_calls", perSecond, putCalls},
	{"single_client_get_calls", perSecond, getCalls},
	{"single_client_put_gigabytes", "GB per second", putGigabytes},
	{"single_client_wait_1k_refs", perSecond, wait1kRefs},
	{"placement_group_create/removal", perSecond, placementGroups},
	{"single_client_generator_items", perSecond, generatorItems},
}

const perSecond = "per second"

// rawGRPC is the floor: unary round trips on loopback.
func rawGRPC(r *runner) (float64, error) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := grpc.NewServer()
	rpcpb.RegisterCoreWorkerServer(srv, pinger{})
	go srv.Serve(lis)
	defer srv.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	pc := rpcpb.NewCoreWorkerClient(conn)
	_, _ = pc.Ping(r.ctx, &rpcpb.PingRequest{})
	n := 5000 * r.scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := pc.Ping(r.ctx, &rpcpb.PingRequest{}); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

func tasksSync(r *runner) (float64, error) {
	if err := r.warmUp(); err != nil {
		return 0, err
	}
	n := 3000 * r.scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := ray.Get(r.ctx, noop.Remote(r.ctx, i)); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

func tasksAsync(r *runner) (float64, error) {
	if err := r.warmUp(); err != nil {
		return 0, err
	}
	n := 20000 * r.scale
	t0 := time.Now()
	refs := make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = noop.Remote(r.ctx, i)
	}
	if _, err := ray.GetAll(r.ctx, refs...); err != nil {
		return 0, err
	}
	return rate(n, time.Since(t0)), nil
}

func multiClientTasks(r *runner) (float64, error) {
	clients, err := r.clientActors()
	if err != nil {
		return 0, err
	}
	n := 10000 * r.scale
	t0 := time.Now()
	var subs []ray.Ref[int]
	for _, c := range clients {
		subs = append(subs, submitMany.Remote(r.ctx, c, n))
	}
	if _, err := ray.GetAll(r.ctx, subs...); err != nil {
		return 0, err
	}
	return rate(n*len(clients), time.Since(t0)), nil
}

func actorCallsSync(r *runner) (float64, error) {
	clients, err := r.clientActors()
	if err != nil {
		return 0, err
	}
	n := 3000 * r.scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := ray.Get(r.ctx, actorNoop.Remote(r.ctx, clients[0], i)); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

func actorCallsAsync(r *runner) (float64, error) {
	clients, err := r.clientActors()
	if err != nil {
		return 0, err
	}
	return asyncCalls(r, 30000*r.scale, func(i int) ray.ActorHandle[actorState] { return clients[0] })
}

func actorCallsConcurrent(r *runner) (float64, error) {
	conc, err := benchActor.Remote(r.ctx, ray.NumCPUs(0), ray.MaxConcurrency(16))
	if err != nil {
		return 0, err
	}
	return asyncCalls(r, 20000*r.scale, func(i int) ray.ActorHandle[actorState] { return conc })
}

func nnActorCalls(r *runner) (float64, error) {
	clients, err := r.clientActors()
	if err != nil {
		return 0, err
	}
	return asyncCalls(r, 20000*r.scale, func(i int) ray.ActorHandle[actorState] { return clients[i%2] })
}

// asyncCalls submits n actor calls, to the actor to(i) each, then waits
// for them all.
func asyncCalls(r *runner, n int, to func(i int) ray.ActorHandle[actorState]) (float64, error) {
	t0 := time.Now()
	refs := make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = actorNoop.Remote(r.ctx, to(i), i)
	}
	if _, err := ray.GetAll(r.ctx, refs...); err != nil {
		return 0, err
	}
	return rate(n, time.Since(t0)), nil
}

// putCalls keeps its refs until getCalls has run (which reads the first),
// as the owner's table holds them all while the puts run.
func putCalls(r *runner) (float64, error) {
	n := 100000 * r.scale
	t0 := time.Now()
	r.puts = make([]ray.Ref[int], n)
	for i := range r.puts {
		var err error
		if r.puts[i], err = ray.Put(r.ctx, i); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

func getCalls(r *runner) (float64, error) {
	if r.puts == nil {
		one, err := ray.Put(r.ctx, 1)
		if err != nil {
			return 0, err
		}
		r.puts = []ray.Ref[int]{one}
	}
	one := r.puts[0]
	defer func() { clear(r.puts); r.puts = nil }() // drop the refs so the store can free the objects
	n := 100000 * r.scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := ray.Get(r.ctx, one); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

func putGigabytes(r *runner) (float64, error) {
	big := make([]byte, 80<<20)
	reps := 10 * r.scale
	// Warm up for a second, as Ray's timeit does: the first puts map fresh
	// store memory (page faults) that later ones reuse.
	for i, w0 := 0, time.Now(); i < 3 || time.Since(w0) < time.Second; i++ {
		ref, err := ray.Put(r.ctx, big)
		if err != nil {
			return 0, err
		}
		ref.Release()
	}
	// Each ref is dropped right away, as the Python benchmark's loop drops
	// its ref: Release frees the object now instead of at the next GC.
	t0 := time.Now()
	for i := 0; i < reps; i++ {
		ref, err := ray.Put(r.ctx, big)
		if err != nil {
			return 0, err
		}
		ref.Release()
	}
	return float64(reps*len(big)) / (1 << 30) / time.Since(t0).Seconds(), nil
}

func wait1kRefs(r *runner) (float64, error) {
	refs := make([]ray.Ref[int], 1000)
	for i := range refs {
		refs[i] = noop.Remote(r.ctx, i)
	}
	if _, err := ray.GetAll(r.ctx, refs...); err != nil {
		return 0, err
	}
	n := 200 * r.scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, _, err := ray.Wait(r.ctx, refs, len(refs), 0); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

func placementGroups(r *runner) (float64, error) {
	n := 200 * r.scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		pg, err := ray.NewPlacementGroup(r.ctx, []map[string]float64{{"CPU": 0.01}}, "PACK")
		if err != nil {
			return 0, err
		}
		if err := pg.Ready(r.ctx); err != nil {
			return 0, err
		}
		if err := ray.RemovePlacementGroup(r.ctx, pg); err != nil {
			return 0, err
		}
	}
	return rate(n, time.Since(t0)), nil
}

// generatorItems is not one of Ray's metrics: a streaming generator's
// items reaching the driver (Next and Get of each), one task yielding
// small values.
func generatorItems(r *runner) (float64, error) {
	n := 20000 * r.scale
	t0 := time.Now()
	got := 0
	for _, err := range countTo.Remote(r.ctx, n).Values(r.ctx) {
		if err != nil {
			return 0, err
		}
		got++
	}
	if got != n {
		return 0, fmt.Errorf("%d items, want %d", got, n)
	}
	return rate(n, time.Since(t0)), nil
}
