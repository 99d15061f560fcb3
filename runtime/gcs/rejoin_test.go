package gcs

import (
	"context"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/goray-dev/goray/runtime/gcs/storage"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestRejoinable(t *testing.T) {
	running := &rpcpb.JobInfo{JobId: "00000007", BinaryHash: "h1", BinaryPath: "/bin/a", DriverAddress: "old:1", Namespace: "serve", StartTimeMs: 42}
	finished := proto.CloneOf(running)
	finished.Finished = true
	for _, tc := range []struct {
		name string
		have *rpcpb.JobInfo
		req  *rpcpb.JobInfo
		code codes.Code
	}{
		{"same binary", running, &rpcpb.JobInfo{JobId: "00000007", BinaryHash: "h1", DriverAddress: "new:2"}, codes.OK},
		{"no such job", nil, &rpcpb.JobInfo{JobId: "00000007", BinaryHash: "h1"}, codes.NotFound},
		{"finished", finished, &rpcpb.JobInfo{JobId: "00000007", BinaryHash: "h1"}, codes.FailedPrecondition},
		{"another binary", running, &rpcpb.JobInfo{JobId: "00000007", BinaryHash: "h2"}, codes.FailedPrecondition},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := rejoinable(tc.have, tc.req)
			if status.Code(err) != tc.code {
				t.Fatalf("error %v, want code %v", err, tc.code)
			}
			if err != nil {
				return
			}
			want := proto.CloneOf(tc.have)
			want.DriverAddress = tc.req.DriverAddress
			if !proto.Equal(got, want) {
				t.Fatalf("rejoined record %v, want %v", got, want)
			}
			if tc.have.DriverAddress != "old:1" {
				t.Fatal("the stored record was changed in place")
			}
		})
	}
}

// TestAddJobRejoinsAfterRestart: a driver takes its job over again on a
// restarted GCS (file store): same id and start time, its new address,
// no new job; a job id the GCS never gave out is refused, not created.
func TestAddJobRejoinsAfterRestart(t *testing.T) {
	ctx := context.Background()
	s := openFileGCS(t)
	j, err := s.AddJob(ctx, &rpcpb.JobInfo{BinaryHash: "h1", DriverAddress: "old:1", Namespace: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	s.restart()
	again, err := s.AddJob(ctx, &rpcpb.JobInfo{JobId: j.JobId, BinaryHash: "h1", DriverAddress: "new:2", Namespace: "serve"})
	if err != nil {
		t.Fatal(err)
	}
	if again.JobId != j.JobId || again.StartTimeMs != j.StartTimeMs || again.DriverAddress != "new:2" {
		t.Fatalf("rejoined %v, registered as %v", again, j)
	}
	list, err := s.GetJobs(ctx, &rpcpb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Jobs) != 1 || list.Jobs[0].DriverAddress != "new:2" {
		t.Fatalf("jobs after the rejoin: %v", list.Jobs)
	}
	if _, err := s.AddJob(ctx, &rpcpb.JobInfo{JobId: "0000ffff", BinaryHash: "h1"}); status.Code(err) != codes.NotFound {
		t.Fatalf("a job id never given out: %v, want NotFound", err)
	}
}

// fileGCS is a GCS on a file store in dir; restart stops it (as a crash
// would leave the store: everything acknowledged is in it) and opens a new
// one on the same file. Both are closed with the test.
type fileGCS struct {
	t    *testing.T
	path string
	st   storage.Store
	*Server
}

func openFileGCS(t *testing.T) *fileGCS {
	g := &fileGCS{t: t, path: filepath.Join(t.TempDir(), "gcs")}
	g.open()
	t.Cleanup(func() { g.Stop(); _ = g.st.Close() })
	return g
}

func (g *fileGCS) open() {
	st, err := storage.OpenFile(g.path, "")
	if err != nil {
		g.t.Fatal(err)
	}
	g.st, g.Server = st, openGCS(g.t, st)
}

func (g *fileGCS) restart() {
	g.Stop()
	_ = g.st.Close()
	g.open()
}
