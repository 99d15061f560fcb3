package core

import (
	"testing"

	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestProcsFor(t *testing.T) {
	for _, tc := range []struct {
		cpus float64
		def  int
		want int
	}{
		{0, 8, 1},   // a 0-CPU task still runs on one thread
		{0.5, 8, 1}, // fractional CPUs: one thread
		{1, 8, 1},   // the common task
		{1.5, 8, 2}, // rounded up
		{4, 8, 4},   // a 4-CPU task gets 4
		{16, 8, 8},  // never wider than the machine's default
		{4, 0, 1},   // an unknown default still allows one
	} {
		if got := procsFor(tc.cpus, tc.def); got != tc.want {
			t.Errorf("procsFor(%v, %d) = %d, want %d", tc.cpus, tc.def, got, tc.want)
		}
	}
}

// A leased worker on this machine is reached over its unix socket; one whose
// socket is not here (another machine) over TCP.
func TestPushTargetPrefersALocalSocket(t *testing.T) {
	dir := t.TempDir()
	l, path := rpcutil.ListenUnix(dir, "worker-x.sock")
	if l == nil {
		t.Fatal("no unix socket")
	}
	defer l.Close()
	for _, tc := range []struct {
		socket, want string
	}{
		{path, "unix://" + path},
		{dir + "/sockets/worker-elsewhere.sock", "127.0.0.9:1234"},
		{"", "127.0.0.9:1234"},
	} {
		if got := pushTarget(&rpcpb.LeaseReply{WorkerAddress: "127.0.0.9:1234", WorkerSocket: tc.socket}); got != tc.want {
			t.Errorf("socket %q: push to %q, want %q", tc.socket, got, tc.want)
		}
	}
}
