package workerenv

import "testing"

func TestVarsRoundTrip(t *testing.T) {
	e := Env{NodeAddress: "127.0.0.1:1", GcsAddress: "127.0.0.1:6379", WorkerID: "w", JobID: "01000000", BinaryHash: "h",
		NodeID: "n", NodeIP: "127.0.0.2", SessionDir: "/tmp/s", ClusterID: "c", ObjectDir: "/dev/shm/x"}
	vars := e.Vars()
	if vars[0] != "GORAY_WORKER=1" {
		t.Fatalf("first entry %q", vars[0])
	}
	if got := FromVars(append([]string{"GORAY_NODE_ID=stale", "PATH=/bin"}, vars...)); got != e {
		t.Fatalf("round trip: %+v, want %+v", got, e)
	}
}

func TestCurrentAndIsWorker(t *testing.T) {
	t.Setenv(Worker, "1")
	t.Setenv(NodeIP, "127.0.0.9")
	if !IsWorker() || Current().NodeIP != "127.0.0.9" {
		t.Fatalf("IsWorker %v, Current %+v", IsWorker(), Current())
	}
	t.Setenv(Worker, "")
	if IsWorker() {
		t.Fatal("a process without GORAY_WORKER=1 is a worker")
	}
}
