package gcs

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/gcs/storage/storagetest"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

var quiet = log.New(io.Discard, "", 0)

// storeKind opens the same data again each time open is called (after the
// previous store was closed).
type storeKind struct {
	name string
	open func(t *testing.T) storage.Store
}

func storeKinds(t *testing.T) []storeKind {
	mem := storage.NewMemory()
	dir := t.TempDir()
	srv := storagetest.StartRedis(t, storagetest.Options{Password: "pw"})
	return []storeKind{
		{"memory", func(t *testing.T) storage.Store { return mem }},
		{"file", func(t *testing.T) storage.Store {
			s, err := storage.OpenFile(dir, "c1")
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
		{"redis", func(t *testing.T) storage.Store {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := storage.OpenRedis(ctx, storage.Config{RedisAddress: srv.Addr, RedisPassword: "pw", Namespace: "c1"})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}},
	}
}

func openGCS(t *testing.T, st storage.Store) *Server {
	t.Helper()
	s, err := Open(context.Background(), Config{Storage: st, Logger: quiet, HeartbeatTimeout: time.Hour, ReregisterTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// snapshot is what a client can list of a GCS, minus what a restart may change.
type snapshot struct {
	Jobs    []string
	KV      map[string]string
	Actors  []string
	PGs     []string
	Nodes   []string
	Session string
}

func takeSnapshot(t *testing.T, s *Server, pgIDs []string) snapshot {
	t.Helper()
	ctx := context.Background()
	var out snapshot
	jobs, err := s.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs.Jobs {
		out.Jobs = append(out.Jobs, fmt.Sprintf("%s finished=%v start=%d end=%d bin=%s driver=%s ns=%s", j.JobId, j.Finished, j.StartTimeMs, j.EndTimeMs, j.BinaryHash, j.DriverAddress, j.Namespace))
	}
	out.KV = map[string]string{}
	for _, ns := range []string{"job", "serve"} {
		keys, err := s.KvKeys(ctx, &rpcpb.KvRequest{Namespace: ns})
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys.Keys {
			v, _ := s.KvGet(ctx, &rpcpb.KvRequest{Namespace: ns, Key: k})
			out.KV[ns+"/"+k] = string(v.Value)
		}
	}
	actors, err := s.ListActors(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range actors.Actors {
		out.Actors = append(out.Actors, fmt.Sprintf("%s %s %s/%s job=%s restarts=%d cause=%q", a.ActorId, a.ClassName, a.Namespace, a.Name, a.JobId, a.NumRestarts, a.DeathCause))
	}
	for _, id := range pgIDs {
		pg, err := s.GetPlacementGroup(ctx, &rpcpb.GetPlacementGroupRequest{PlacementGroupId: id})
		if err != nil {
			t.Fatal(err)
		}
		out.PGs = append(out.PGs, fmt.Sprintf("%s %s %s %d bundles", pg.PlacementGroupId, pg.State, pg.Spec.Name, len(pg.Spec.Bundles)))
	}
	nodes, _ := s.GetNodes(ctx, &rpcpb.GetNodesRequest{})
	for _, n := range nodes.Nodes {
		out.Nodes = append(out.Nodes, n.NodeId+" "+n.Address+" "+n.InstanceId)
	}
	sort.Strings(out.Nodes)
	st, _ := s.GetClusterStatus(ctx, &rpcpb.Empty{})
	out.Session = st.SessionName
	return out
}

// TestRestartReloadsEveryTable: a GCS restarted on the same storage lists
// the same jobs (with their driver info and end state), KV (job records,
// serve state), actors (named and detached, reachable by name), placement
// groups and nodes, and goes on numbering jobs after the last one.
func TestRestartReloadsEveryTable(t *testing.T) {
	ctx := context.Background()
	for _, kind := range storeKinds(t) {
		t.Run(kind.name, func(t *testing.T) {
			st := kind.open(t)
			s := openGCS(t, st)
			lis, err := net.Listen("tcp", "127.0.0.1:0") // a node that answers nothing
			if err != nil {
				t.Fatal(err)
			}
			defer lis.Close()
			reg, err := s.RegisterNode(ctx, &rpcpb.NodeInfo{Address: lis.Addr().String(), InstanceId: "pod-1", Total: map[string]float64{"CPU": 1}})
			if err != nil {
				t.Fatal(err)
			}
			var jobIDs []string
			for i := 0; i < 3; i++ {
				j, err := s.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: fmt.Sprintf("%064d", i), DriverAddress: "127.0.0.1:" + strconv.Itoa(4000+i)})
				if err != nil {
					t.Fatal(err)
				}
				jobIDs = append(jobIDs, j.JobId)
			}
			if _, err := s.MarkJobFinished(ctx, &rpcpb.JobInfo{JobId: jobIDs[0]}); err != nil {
				t.Fatal(err)
			}
			for k, v := range map[string]string{"_goray_internal_job_info_raysubmit_1": `{"status":"SUCCEEDED"}`, "_goray_internal_job_info_raysubmit_2": `{"status":"RUNNING"}`} {
				if _, err := s.KvPut(ctx, &rpcpb.KvRequest{Namespace: "job", Key: k, Value: []byte(v)}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.KvPut(ctx, &rpcpb.KvRequest{Namespace: "serve", Key: "routes", Value: []byte{0, 1, 2}, Overwrite: true}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.KvPut(ctx, &rpcpb.KvRequest{Namespace: "serve", Key: "gone", Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.KvDel(ctx, &rpcpb.KvRequest{Namespace: "serve", Key: "gone"}); err != nil {
				t.Fatal(err)
			}
			detached, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "Counter", Name: "counter", Namespace: "app", Detached: true, JobId: jobIDs[1], MaxRestarts: -1, Args: []*rpcpb.Arg{{Value: []byte("arg")}}})
			if err != nil {
				t.Fatal(err)
			}
			killed, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "Worker", Name: "w", JobId: jobIDs[2]})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.KillActor(ctx, &rpcpb.KillActorRequest{ActorId: killed.ActorId, NoRestart: true}); err != nil {
				t.Fatal(err)
			}
			pg, err := s.CreatePlacementGroup(ctx, &rpcpb.PlacementGroupSpec{Name: "big", Detached: true, JobId: jobIDs[1],
				Bundles: []*rpcpb.Bundle{{Resources: map[string]float64{"CPU": 64}}, {Resources: map[string]float64{"GPU": 1}}}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.RequestClusterResourceConstraint(ctx, &rpcpb.ResourceConstraint{Requests: []*rpcpb.ResourceDemand{{Shape: map[string]float64{"CPU": 8}, Count: 2}}}); err != nil {
				t.Fatal(err)
			}
			before := takeSnapshot(t, s, []string{pg.PlacementGroupId})
			inc, cluster := s.Incarnation(), s.ClusterID()

			// The head goes away; everything it acknowledged is in the storage.
			s.Stop()
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st = kind.open(t)
			defer st.Close()
			s = openGCS(t, st)
			defer s.Stop()

			after := takeSnapshot(t, s, []string{pg.PlacementGroupId})
			if fmt.Sprint(before) != fmt.Sprint(after) {
				t.Fatalf("after a restart the GCS lists\n%+v\nbefore it\n%+v", after, before)
			}
			if len(after.Jobs) != 3 || len(after.KV) != 3 || len(after.Actors) != 2 || len(after.PGs) != 1 || len(after.Nodes) != 1 {
				t.Fatalf("incomplete snapshot: %+v", after)
			}
			if s.Incarnation() == inc || s.ClusterID() != cluster {
				t.Fatalf("incarnation %s -> %s (must change), cluster %s -> %s (must stay)", inc, s.Incarnation(), cluster, s.ClusterID())
			}
			// The named detached actor is reachable by name, the dead one's name is free.
			a, err := s.GetActor(ctx, &rpcpb.GetActorRequest{Name: "counter", Namespace: "app"})
			if err != nil || a.ActorId != detached.ActorId {
				t.Fatalf("named actor after restart: %v %v", a, err)
			}
			if _, err := s.GetActor(ctx, &rpcpb.GetActorRequest{Name: "w"}); err == nil {
				t.Fatal("a dead actor's name is taken after the restart")
			}
			if _, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "Counter", Name: "counter", Namespace: "app"}); err == nil {
				t.Fatal("a second actor took the restored actor's name")
			}
			st2, _ := s.GetClusterStatus(ctx, &rpcpb.Empty{})
			if len(st2.Constraints) != 1 || st2.Constraints[0].Count != 2 {
				t.Fatalf("resource constraint after restart: %v", st2.Constraints)
			}
			if len(st2.PendingGangs) != 1 {
				t.Fatalf("the pending placement group is not pending demand after restart: %v", st2.PendingGangs)
			}
			// The node is dead until it registers again.
			if n := st2.Nodes[0]; n.Alive || n.Status != StatusDead {
				t.Fatalf("a loaded node is %s before registering again", n.Status)
			}
			if _, err := s.ReportNode(ctx, &rpcpb.NodeReport{NodeId: reg.NodeId}); err == nil {
				t.Fatal("a heartbeat of a node that did not register again was taken")
			}
			if _, err := s.RegisterNode(ctx, &rpcpb.NodeInfo{NodeId: reg.NodeId, Address: lis.Addr().String(), Total: map[string]float64{"CPU": 1}}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReportNode(ctx, &rpcpb.NodeReport{NodeId: reg.NodeId}); err != nil {
				t.Fatalf("heartbeat after registering again: %v", err)
			}
			// Job ids go on after the last one.
			j, err := s.AddJob(ctx, &rpcpb.JobInfo{})
			if err != nil {
				t.Fatal(err)
			}
			if j.JobId <= jobIDs[2] {
				t.Fatalf("job id %s after a restart; the last one before was %s", j.JobId, jobIDs[2])
			}
		})
	}
}

// TestJobIDsAreNotReused is the case: a restarted GCS numbered jobs
// from 00000001 again while nodes kept caches keyed by job id. With a
// storage the counter goes on; without one a new GCS starts at a random
// point, so a restart does not repeat the ids of the GCS before it.
func TestJobIDsAreNotReused(t *testing.T) {
	ctx := context.Background()
	ids := func(s *Server, n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			j, err := s.AddJob(ctx, &rpcpb.JobInfo{})
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, j.JobId)
		}
		return out
	}
	t.Run("memory", func(t *testing.T) {
		seen := map[string]bool{}
		for restart := 0; restart < 5; restart++ {
			s := New(Config{Logger: quiet})
			for _, id := range ids(s, 3) {
				if seen[id] {
					t.Fatalf("restart %d reused job id %s", restart, id)
				}
				seen[id] = true
			}
			s.Stop()
		}
	})
	t.Run("file", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "gcs")
		var last string
		for restart := 0; restart < 3; restart++ {
			st, err := storage.OpenFile(dir, "")
			if err != nil {
				t.Fatal(err)
			}
			s := openGCS(t, st)
			for _, id := range ids(s, 3) {
				if id <= last {
					t.Fatalf("restart %d: job id %s after %s", restart, id, last)
				}
				last = id
			}
			s.Stop()
			_ = st.Close()
		}
	})
}

// TestIncarnationHeaders: every reply carries the GCS's incarnation (new per
// start) and cluster id (kept by a durable storage).
func TestIncarnationHeaders(t *testing.T) {
	st := storage.NewMemory()
	call := func(s *Server) metadata.MD {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(grpc.ChainUnaryInterceptor(s.UnaryInterceptor()), grpc.ChainStreamInterceptor(s.StreamInterceptor()))
		rpcpb.RegisterGcsServer(srv, s)
		go srv.Serve(lis)
		defer srv.Stop()
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		var md metadata.MD
		if _, err := rpcpb.NewGcsClient(conn).GetNodes(context.Background(), &rpcpb.GetNodesRequest{}, grpc.Header(&md)); err != nil {
			t.Fatal(err)
		}
		return md
	}
	a := openGCS(t, st)
	mdA := call(a)
	a.Stop()
	b := openGCS(t, st)
	defer b.Stop()
	mdB := call(b)
	if got := mdA.Get(IncarnationHeader); len(got) != 1 || got[0] != a.Incarnation() {
		t.Fatalf("incarnation header %v, want %s", got, a.Incarnation())
	}
	if mdA.Get(IncarnationHeader)[0] == mdB.Get(IncarnationHeader)[0] {
		t.Fatal("a restarted GCS has the same incarnation")
	}
	if mdA.Get(ClusterIDHeader)[0] != mdB.Get(ClusterIDHeader)[0] {
		t.Fatal("the cluster id changed across a restart on the same storage")
	}
	c := New(Config{Logger: quiet})
	defer c.Stop()
	if c.Incarnation() == a.Incarnation() || c.ClusterID() == a.ClusterID() {
		t.Fatal("a GCS without storage shares an incarnation or cluster id")
	}
}

// TestLoadedNodesThatDoNotReturnDie: a node loaded from the storage that
// does not register again is declared dead after ReregisterTimeout, and its
// actors fail over (here: restart, as they may).
func TestLoadedNodesThatDoNotReturnDie(t *testing.T) {
	ctx := context.Background()
	st := storage.NewMemory()
	s := openGCS(t, st)
	reg, err := s.RegisterNode(ctx, &rpcpb.NodeInfo{Address: "127.0.0.1:1", Total: map[string]float64{"CPU": 1}})
	if err != nil {
		t.Fatal(err)
	}
	// An actor that was alive on it (as tryCreateActor records it).
	a, err := s.CreateActor(ctx, &rpcpb.ActorSpec{ClassName: "A", Name: "a", Detached: true, MaxRestarts: 1, Resources: map[string]float64{"CPU": 100}})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	s.dir.Created(a.ActorId, reg.NodeId, "w1", "127.0.0.1:2")
	s.saveActorsLocked(nil, a.ActorId)
	s.mu.Unlock()
	if err := s.settle(ctx); err != nil {
		t.Fatal(err)
	}
	s.Stop()

	s, err = Open(ctx, Config{Storage: st, Logger: quiet, HeartbeatTimeout: 100 * time.Millisecond, ReregisterTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	got, _ := s.GetActor(ctx, &rpcpb.GetActorRequest{Name: "a"})
	if got.State != rpcpb.ActorState_ALIVE || got.Address != "127.0.0.1:2" {
		t.Fatalf("restored alive actor: %v", got)
	}
	go s.Run()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, _ = s.GetActor(ctx, &rpcpb.GetActorRequest{Name: "a"})
		nodes, _ := s.GetNodes(ctx, &rpcpb.GetNodesRequest{})
		if got.State == rpcpb.ActorState_RESTARTING && got.NumRestarts == 1 && !nodes.Nodes[0].Alive {
			if want := "did not register again"; !strings.Contains(nodes.Nodes[0].DeathReason, want) {
				t.Fatalf("death reason %q", nodes.Nodes[0].DeathReason)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node that did not come back is not dead / its actor not restarted: %v %v", got, nodes.Nodes)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
