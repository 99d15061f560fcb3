package gcs

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/actors"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// How the GCS's tables are stored: jobs as JobInfo protobufs, KV values as
// they are, and JSON records (with protobuf specs inside) for actors,
// placement groups and nodes. Meta holds the cluster id, the session name,
// the job id counter and the autoscaler's resource constraint.
const (
	metaClusterID   = "cluster_id"
	metaSessionName = "session_name"
	metaJobSeq      = "job_seq"
	metaConstraints = "resource_constraints"
)

// Bounds on what a call may ask the GCS to store, so that every record can
// be written and read back by every backend (the storage refuses more).
const (
	maxJobRecord   = 1 << 20
	maxNodeRecord  = 1 << 20
	maxMetaRecord  = 1 << 20
	maxSpecRecord  = storage.MaxValueBytes - 64<<10 // actor and placement group specs (actor arguments travel inline)
	maxKVKeyBytes  = storage.MaxKeyBytes - 1<<10
	maxKVNamespace = 1 << 10
	// maxNodeWorkers bounds the live workers a registering node names.
	maxNodeWorkers = 1 << 16
)

// Incarnation headers: every reply of the GCS carries its incarnation (new
// each time a GCS starts, with or without storage) and the cluster id (kept
// in the storage), so a node or driver can tell that the GCS it talks to
// is not the one it registered with.
const (
	IncarnationHeader = rpcutil.IncarnationHeader
	ClusterIDHeader   = rpcutil.ClusterIDHeader
)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// initialJobSeq is where a GCS without stored jobs starts numbering: a
// random point in the lower half of the 32-bit space, so that a GCS
// restarted without storage does not hand out the job ids of the one
// before it (nodes and workers outlive a head restart and know jobs by id).
func initialJobSeq() uint64 {
	if seq, ok := testJobSeq(); ok {
		return seq
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return uint64(binary.BigEndian.Uint32(b[:]) >> 1)
}

// EnvTestFirstJobID is a test hook, honoured only when set: the id (8 hex
// digits) of the next job this GCS hands out, with or without stored jobs.
// It breaks the rule that job ids are never reused, on purpose: a test makes
// a restarted head give a second program the job id of a first one, whose
// workers a surviving node still has (runtime/cluster's incarnation tests).
const EnvTestFirstJobID = "GORAY_TEST_FIRST_JOB_ID"

// testJobSeq is the job counter EnvTestFirstJobID asks for.
func testJobSeq() (uint64, bool) {
	v := os.Getenv(EnvTestFirstJobID)
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(v, 16, 32)
	if err != nil || n == 0 {
		return 0, false
	}
	return n - 1, true
}

// Incarnation is this GCS process's random id.
func (s *Server) Incarnation() string { return s.incarnation }

// ClusterID is the cluster's id: kept across restarts on a durable storage.
func (s *Server) ClusterID() string { return s.clusterID }

// UnaryInterceptor adds the incarnation headers to every unary reply, and
// refuses a request that names another cluster (see otherCluster).
func (s *Server) UnaryInterceptor() grpc.UnaryServerInterceptor {
	md := metadata.Pairs(IncarnationHeader, s.incarnation, ClusterIDHeader, s.clusterID)
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		_ = grpc.SetHeader(ctx, md)
		if err := s.otherCluster(ctx); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// StreamInterceptor adds the incarnation headers to every stream, and
// refuses a stream that names another cluster.
func (s *Server) StreamInterceptor() grpc.StreamServerInterceptor {
	md := metadata.Pairs(IncarnationHeader, s.incarnation, ClusterIDHeader, s.clusterID)
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		_ = ss.SetHeader(md)
		if err := s.otherCluster(ss.Context()); err != nil {
			return err
		}
		return h(srv, ss)
	}
}

// otherCluster refuses a request whose caller names another cluster id in
// its metadata (core workers send the one they joined): a driver or worker
// of a cluster whose head restarted without storage must not act on this
// one, where its job id may name another program's job.
func (s *Server) otherCluster(ctx context.Context) error {
	v := metadata.ValueFromIncomingContext(ctx, ClusterIDHeader)
	if len(v) == 0 || v[0] == s.clusterID {
		return nil
	}
	return status.Errorf(codes.FailedPrecondition, "this request belongs to cluster %s, but this GCS is cluster %s (the head restarted without fault-tolerant storage)", v[0], s.clusterID)
}

// persistLocked enqueues records (called under s.mu, which orders them).
func (s *Server) persistLocked(ops ...storage.Op) uint64 { return s.p.enqueue(ops...) }

// durable waits until seq is durable (called without s.mu).
func (s *Server) durable(ctx context.Context, seq uint64) error { return s.p.wait(ctx, seq) }

// settle waits until everything enqueued so far is durable, so that a
// reply never shows a change that a crash could still lose.
func (s *Server) settle(ctx context.Context) error { return s.p.wait(ctx, s.p.last()) }

func metaOp(key, value string) storage.Op {
	return storage.Op{Table: storage.Meta, Key: key, Value: []byte(value)}
}

func jobOp(j *rpcpb.JobInfo) storage.Op {
	b, _ := proto.Marshal(j)
	return storage.Op{Table: storage.Jobs, Key: j.JobId, Value: b}
}

type actorRecord struct {
	ID          string `json:"id"`
	Class       string `json:"class"`
	Name        string `json:"name,omitempty"`
	Namespace   string `json:"namespace"`
	JobID       string `json:"job_id"`
	Detached    bool   `json:"detached,omitempty"`
	MaxRestarts int    `json:"max_restarts"`
	NumRestarts int    `json:"num_restarts"`
	State       string `json:"state"`
	NodeID      string `json:"node_id,omitempty"`
	WorkerID    string `json:"worker_id,omitempty"`
	Address     string `json:"address,omitempty"`
	DeathCause  string `json:"death_cause,omitempty"`
	Spec        []byte `json:"spec"` // rpcpb.ActorSpec
}

var actorStates = map[string]actors.State{}

func init() {
	for _, st := range []actors.State{actors.PendingCreation, actors.Alive, actors.Restarting, actors.Dead} {
		actorStates[st.String()] = st
	}
}

func actorOp(a *actors.Actor) storage.Op {
	r := actorRecord{ID: a.ID, Class: a.Class, Name: a.Name, Namespace: a.Namespace, JobID: a.JobID, Detached: a.Detached,
		MaxRestarts: a.MaxRestarts, NumRestarts: a.NumRestarts, State: a.State.String(), NodeID: a.NodeID,
		WorkerID: a.WorkerID, Address: a.Address, DeathCause: a.DeathCause}
	if spec, ok := a.Spec.(*rpcpb.ActorSpec); ok {
		r.Spec, _ = proto.Marshal(spec)
	}
	b, _ := json.Marshal(r)
	return storage.Op{Table: storage.Actors, Key: a.ID, Value: b}
}

// saveActorsLocked enqueues the records of the actors named by ids and by effects.
func (s *Server) saveActorsLocked(effs []actors.Effect, ids ...string) uint64 {
	s.actorEventsLocked(effs) // every change of the directory passes here
	for _, id := range ids {
		s.wakeActorLocked(id)
	}
	for _, e := range effs {
		s.wakeActorLocked(e.ActorID)
	}
	if s.p == nil {
		return 0
	}
	seen := map[string]bool{}
	var ops []storage.Op
	add := func(id string) {
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		if a, ok := s.dir.Get(id); ok {
			ops = append(ops, actorOp(a))
		}
	}
	for _, id := range ids {
		add(id)
	}
	for _, e := range effs {
		add(e.ActorID)
	}
	return s.persistLocked(ops...)
}

type pgRecord struct {
	Spec  []byte   `json:"spec"` // rpcpb.PlacementGroupSpec
	State string   `json:"state"`
	Nodes []string `json:"nodes,omitempty"`
}

func pgOp(pg *placementGroup) storage.Op {
	r := pgRecord{State: pg.state, Nodes: pg.nodes}
	r.Spec, _ = proto.Marshal(pg.spec)
	b, _ := json.Marshal(r)
	return storage.Op{Table: storage.PlacementGroups, Key: pg.id, Value: b}
}

type nodeRecord struct {
	Info     []byte `json:"info"` // rpcpb.NodeInfo
	Alive    bool   `json:"alive"`
	Death    string `json:"death,omitempty"`
	Draining bool   `json:"draining,omitempty"`
}

func nodeOp(id string, n *nodeRec) storage.Op {
	r := nodeRecord{Alive: n.alive, Death: n.death, Draining: n.draining}
	r.Info, _ = proto.Marshal(n.info)
	b, _ := json.Marshal(r)
	return storage.Op{Table: storage.Nodes, Key: id, Value: b}
}

// decode reads a stored record, within a size limit.
func decodeJSON(table, key string, b []byte, limit int, v any) error {
	if len(b) > limit {
		return fmt.Errorf("%s record %q is %d bytes, over the limit of %d", table, key, len(b), limit)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s record %q is corrupt: %w", table, key, err)
	}
	return nil
}

func decodeProto(table, key string, b []byte, limit int, m proto.Message) error {
	if len(b) > limit {
		return fmt.Errorf("%s record %q is %d bytes, over the limit of %d", table, key, len(b), limit)
	}
	if err := proto.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%s record %q is corrupt: %w", table, key, err)
	}
	return nil
}

// load reads every table back from the storage. A record that cannot be
// read is logged and left out (and stays in the storage); a storage that
// cannot be read fails the start.
func (s *Server) load(ctx context.Context) error {
	st := s.cfg.Storage
	start := time.Now()
	skip := func(err error) { s.log.Printf("GCS storage: skipping a record: %v", err) }
	scan := func(table string, fn func(k string, v []byte) error) error {
		if err := st.Scan(ctx, table, fn); err != nil {
			return fmt.Errorf("load the GCS's %s from %s: %w", table, st, err)
		}
		return nil
	}
	var ops []storage.Op

	meta := map[string]string{}
	if err := scan(storage.Meta, func(k string, v []byte) error {
		if len(v) > maxMetaRecord {
			skip(fmt.Errorf("meta record %q is %d bytes", k, len(v)))
			return nil
		}
		meta[k] = string(v)
		return nil
	}); err != nil {
		return err
	}
	if id := meta[metaClusterID]; id != "" {
		s.clusterID = id
	} else {
		ops = append(ops, metaOp(metaClusterID, s.clusterID))
	}
	if name := meta[metaSessionName]; name != "" {
		s.cfg.SessionName = name
	} else {
		ops = append(ops, metaOp(metaSessionName, s.cfg.SessionName))
	}
	seqKnown := false
	if v, ok := meta[metaJobSeq]; ok {
		if n, err := strconv.ParseUint(v, 16, 64); err == nil {
			s.jobSeq, seqKnown = n, true
		} else {
			skip(fmt.Errorf("job id counter %q is not a number; continuing after the highest stored job id", v))
		}
	}
	if v, ok := meta[metaConstraints]; ok {
		c := &rpcpb.ResourceConstraint{}
		if err := decodeProto(storage.Meta, metaConstraints, []byte(v), maxMetaRecord, c); err != nil {
			skip(err)
		} else {
			s.constraints = c.Requests
		}
	}

	deadline := time.Now().Add(s.cfg.ReregisterTimeout)
	awaiting := 0
	if err := scan(storage.Nodes, func(k string, v []byte) error {
		var r nodeRecord
		info := &rpcpb.NodeInfo{}
		if err := decodeJSON(storage.Nodes, k, v, maxNodeRecord, &r); err != nil {
			skip(err)
			return nil
		}
		if err := decodeProto(storage.Nodes, k, r.Info, maxNodeRecord, info); err != nil {
			skip(err)
			return nil
		}
		n := &nodeRec{info: info, lastSeen: time.Now(), available: copyMap(info.Total), death: r.Death, infoAt: s.infoVersion}
		if r.Alive {
			// Dead until it registers again, which a surviving node does at
			// its next heartbeat; declared dead for good after the deadline.
			n.awaiting, n.death = true, "awaiting re-registration after a GCS restart"
			awaiting++
		}
		s.nodes[k] = n
		return nil
	}); err != nil {
		return err
	}
	s.reregisterBy = deadline

	var maxJob uint64
	if err := scan(storage.Jobs, func(k string, v []byte) error {
		j := &rpcpb.JobInfo{}
		if err := decodeProto(storage.Jobs, k, v, maxJobRecord, j); err != nil {
			skip(err)
			return nil
		}
		s.jobs[k] = j
		if !j.Finished && j.DriverAddress != "" {
			// Its driver reconnects, or the serve controller takes the
			// job over again, within the grace (driverwatch.go).
			s.driversQuietUntil = time.Now().Add(driverRestoredGrace)
		}
		if n, err := strconv.ParseUint(k, 16, 64); err == nil && len(k) <= 16 {
			maxJob = max(maxJob, n)
		}
		return nil
	}); err != nil {
		return err
	}
	if !seqKnown && len(s.jobs) == 0 {
		// A new storage: keep the random start New chose.
		ops = append(ops, metaOp(metaJobSeq, strconv.FormatUint(s.jobSeq, 16)))
	} else if maxJob > s.jobSeq {
		s.jobSeq = maxJob
	}
	if seq, ok := testJobSeq(); ok {
		s.jobSeq = seq
	}

	if err := scan(storage.KV, func(k string, v []byte) error {
		s.kv[k] = v
		return nil
	}); err != nil {
		return err
	}

	var reschedule []string
	if err := scan(storage.Actors, func(k string, v []byte) error {
		var r actorRecord
		spec := &rpcpb.ActorSpec{}
		if err := decodeJSON(storage.Actors, k, v, storage.MaxValueBytes, &r); err != nil {
			skip(err)
			return nil
		}
		if err := decodeProto(storage.Actors, k, r.Spec, storage.MaxValueBytes, spec); err != nil {
			skip(err)
			return nil
		}
		state, ok := actorStates[r.State]
		if !ok || r.ID != k {
			skip(fmt.Errorf("actors record %q has state %q and id %q", k, r.State, r.ID))
			return nil
		}
		a := &actors.Actor{ID: r.ID, Class: r.Class, Namespace: r.Namespace, JobID: r.JobID, Detached: r.Detached,
			Owner: spec.GetOwnerAddress(), OwnerWorker: spec.OwnerWorkerId, OwnerNode: spec.OwnerNodeId,
			MaxRestarts: r.MaxRestarts, Spec: spec, Lightweight: spec.Lightweight}
		if state != actors.Dead {
			a.Name = r.Name // a dead actor's name is free for a new one
		}
		if _, _, err := s.dir.Register(a, false); err != nil {
			// Two live actors of one name cannot both be stored; keep the
			// first and the other without its name.
			skip(fmt.Errorf("actor %s: %w", k, err))
			a.Name = ""
			if _, _, err := s.dir.Register(a, false); err != nil {
				skip(fmt.Errorf("actor %s: %w", k, err))
				return nil //nolint:nilerr // one unreadable record does not stop the load
			}
		}
		a.Name = r.Name
		a.NumRestarts, a.State, a.DeathCause = r.NumRestarts, state, r.DeathCause
		switch state {
		case actors.Alive:
			// Its worker may well be running on a node that survived:
			// callers reach it at its address; if the node does not come
			// back, the node's death restarts it.
			a.NodeID, a.WorkerID, a.Address = r.NodeID, r.WorkerID, r.Address
			if a.Lightweight {
				s.restoreHostLocked(a.NodeID, a.WorkerID, a.Address, spec)
			}
		case actors.PendingCreation, actors.Restarting:
			// Whatever was being placed was lost with the old GCS: place it again.
			reschedule = append(reschedule, a.ID)
		}
		return nil
	}); err != nil {
		return err
	}

	var pending []*placementGroup
	if err := scan(storage.PlacementGroups, func(k string, v []byte) error {
		var r pgRecord
		spec := &rpcpb.PlacementGroupSpec{}
		if err := decodeJSON(storage.PlacementGroups, k, v, storage.MaxValueBytes, &r); err != nil {
			skip(err)
			return nil
		}
		if err := decodeProto(storage.PlacementGroups, k, r.Spec, storage.MaxValueBytes, spec); err != nil {
			skip(err)
			return nil
		}
		pg := &placementGroup{id: k, spec: spec, state: r.State, nodes: r.Nodes}
		if pg.state != "CREATED" {
			pg.state, pg.nodes = "PENDING", nil
			pending = append(pending, pg)
		}
		s.pgs[k] = pg
		return nil
	}); err != nil {
		return err
	}

	s.mu.Lock()
	seq := s.persistLocked(ops...)
	s.mu.Unlock()
	if err := s.durable(ctx, seq); err != nil {
		return fmt.Errorf("write the GCS's identity to %s: %w", st, err)
	}
	for _, id := range reschedule {
		go s.scheduleActor(id)
	}
	for _, pg := range pending {
		go s.schedulePG(pg)
	}
	s.log.Printf("GCS storage %s: cluster %s, session %s, incarnation %s; loaded %d nodes (%d to re-register within %s), %d jobs (next id %08x), %d KV keys, %d actors, %d placement groups in %s",
		st, s.clusterID, s.cfg.SessionName, s.incarnation, len(s.nodes), awaiting, s.cfg.ReregisterTimeout, len(s.jobs), s.jobSeq+1,
		len(s.kv), len(s.dir.All()), len(s.pgs), time.Since(start).Round(time.Millisecond))
	return nil
}
