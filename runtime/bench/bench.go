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

// Run runs every benchmark and prints lines as Ray does ("name per second value").
func Run(ctx context.Context, out io.Writer, scale int) ([]Result, error) {
	var res []Result
	report := func(name string, v float64, unit string) {
		res = append(res, Result{name, v, unit})
		fmt.Fprintf(out, "%-36s %14.2f %s\n", name, v, unit)
	}
	// Floor: raw gRPC unary round trips on loopback.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	srv := grpc.NewServer()
	rpcpb.RegisterCoreWorkerServer(srv, pinger{})
	go srv.Serve(lis)
	defer srv.Stop()
	conn, _ := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	defer conn.Close()
	pc := rpcpb.NewCoreWorkerClient(conn)
	_, _ = pc.Ping(ctx, &rpcpb.PingRequest{})
	n := 5000 * scale
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if _, err := pc.Ping(ctx, &rpcpb.PingRequest{}); err != nil {
			return nil, err
		}
	}
	report("raw_grpc_unary_roundtrip", rate(n, time.Since(t0)), "per second")

	// Warm up workers.
	warm := make([]ray.Ref[int], 100)
	for i := range warm {
		warm[i] = noop.Remote(ctx, i)
	}
	if _, err := ray.GetAll(ctx, warm...); err != nil {
		return nil, err
	}

	n = 3000 * scale
	t0 = time.Now()
	for i := 0; i < n; i++ {
		if _, err := ray.Get(ctx, noop.Remote(ctx, i)); err != nil {
			return nil, err
		}
	}
	report("single_client_tasks_sync", rate(n, time.Since(t0)), "per second")

	n = 20000 * scale
	t0 = time.Now()
	refs := make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = noop.Remote(ctx, i)
	}
	if _, err := ray.GetAll(ctx, refs...); err != nil {
		return nil, err
	}
	report("single_client_tasks_async", rate(n, time.Since(t0)), "per second")

	clients := make([]ray.ActorHandle[actorState], 2)
	for i := range clients {
		if clients[i], err = benchActor.Remote(ctx, ray.NumCPUs(0)); err != nil {
			return nil, err
		}
		_, _ = ray.Get(ctx, actorNoop.Remote(ctx, clients[i], 0))
	}
	n = 10000 * scale
	t0 = time.Now()
	var subs []ray.Ref[int]
	for _, c := range clients {
		subs = append(subs, submitMany.Remote(ctx, c, n))
	}
	if _, err := ray.GetAll(ctx, subs...); err != nil {
		return nil, err
	}
	report("multi_client_tasks_async", rate(n*len(clients), time.Since(t0)), "per second")

	a := clients[0]
	n = 3000 * scale
	t0 = time.Now()
	for i := 0; i < n; i++ {
		if _, err := ray.Get(ctx, actorNoop.Remote(ctx, a, i)); err != nil {
			return nil, err
		}
	}
	report("1_1_actor_calls_sync", rate(n, time.Since(t0)), "per second")

	n = 30000 * scale
	t0 = time.Now()
	refs = make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = actorNoop.Remote(ctx, a, i)
	}
	if _, err := ray.GetAll(ctx, refs...); err != nil {
		return nil, err
	}
	report("1_1_actor_calls_async", rate(n, time.Since(t0)), "per second")

	conc, err := benchActor.Remote(ctx, ray.NumCPUs(0), ray.MaxConcurrency(16))
	if err != nil {
		return nil, err
	}
	n = 20000 * scale
	t0 = time.Now()
	refs = make([]ray.Ref[int], n)
	for i := range refs {
		refs[i] = actorNoop.Remote(ctx, conc, i)
	}
	if _, err := ray.GetAll(ctx, refs...); err != nil {
		return nil, err
	}
	report("1_1_actor_calls_concurrent", rate(n, time.Since(t0)), "per second")

	t0 = time.Now()
	refs = refs[:0]
	for i := 0; i < n; i++ {
		refs = append(refs, actorNoop.Remote(ctx, clients[i%2], i))
	}
	if _, err := ray.GetAll(ctx, refs...); err != nil {
		return nil, err
	}
	report("n_n_actor_calls_async", rate(n, time.Since(t0)), "per second")

	n = 100000 * scale
	t0 = time.Now()
	puts := make([]ray.Ref[int], n)
	for i := range puts {
		if puts[i], err = ray.Put(ctx, i); err != nil {
			return nil, err
		}
	}
	report("single_client_put_calls", rate(n, time.Since(t0)), "per second")

	one := puts[0]
	t0 = time.Now()
	for i := 0; i < n; i++ {
		if _, err := ray.Get(ctx, one); err != nil {
			return nil, err
		}
	}
	report("single_client_get_calls", rate(n, time.Since(t0)), "per second")
	clear(puts) // drop the refs so the store can free the objects

	big := make([]byte, 80<<20)
	reps := 10 * scale
	// Warm up for a second, as Ray's timeit does: the first puts map fresh
	// store memory (page faults) that later ones reuse.
	for i, w0 := 0, time.Now(); i < 3 || time.Since(w0) < time.Second; i++ {
		r, err := ray.Put(ctx, big)
		if err != nil {
			return nil, err
		}
		r.Release()
	}
	// Each ref is dropped right away, as the Python benchmark's loop drops
	// its ref: Release frees the object now instead of at the next GC.
	t0 = time.Now()
	for i := 0; i < reps; i++ {
		r, err := ray.Put(ctx, big)
		if err != nil {
			return nil, err
		}
		r.Release()
	}
	report("single_client_put_gigabytes", float64(reps*len(big))/(1<<30)/time.Since(t0).Seconds(), "GB per second")

	refs = make([]ray.Ref[int], 1000)
	for i := range refs {
		refs[i] = noop.Remote(ctx, i)
	}
	_, _ = ray.GetAll(ctx, refs...)
	n = 200 * scale
	t0 = time.Now()
	for i := 0; i < n; i++ {
		if _, _, err := ray.Wait(ctx, refs, len(refs), 0); err != nil {
			return nil, err
		}
	}
	report("single_client_wait_1k_refs", rate(n, time.Since(t0)), "per second")

	n = 200 * scale
	t0 = time.Now()
	for i := 0; i < n; i++ {
		pg, err := ray.NewPlacementGroup(ctx, []map[string]float64{{"CPU": 0.01}}, "PACK")
		if err != nil {
			return nil, err
		}
		if err := pg.Ready(ctx); err != nil {
			return nil, err
		}
		if err := ray.RemovePlacementGroup(ctx, pg); err != nil {
			return nil, err
		}
	}
	report("placement_group_create/removal", rate(n, time.Since(t0)), "per second")
	return res, nil
}
