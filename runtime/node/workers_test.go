package node

import (
	"fmt"
	"os/exec"
	"testing"
	"time"
)

func TestExitedWorkersKeepTheNewest(t *testing.T) {
	n := &Node{workers: map[string]*worker{"live": {id: "live", pid: 9, jobID: "j", started: time.Unix(100, 0)}}}
	for i := range maxExited + 5 {
		n.exited.add(exitedWorker(&worker{id: fmt.Sprint("w", i)}, nil, time.Unix(int64(i), 0)))
	}
	ws := n.workerStatesLocked()
	if len(ws) != 1+maxExited || ws[0].WorkerId != "live" || !ws[0].Alive || ws[0].StartTimeMs != 100_000 {
		t.Fatalf("%d workers, first %v", len(ws), ws[0])
	}
	if ws[1].WorkerId != fmt.Sprint("w", maxExited+4) || ws[len(ws)-1].WorkerId != "w5" {
		t.Fatalf("exited: newest %s, oldest %s; want w%d and w5", ws[1].WorkerId, ws[len(ws)-1].WorkerId, maxExited+4)
	}
}

func TestExitTypes(t *testing.T) {
	crash := exec.Command("sh", "-c", "exit 3").Run()
	for _, c := range []struct {
		w    *worker
		err  error
		want string
	}{
		{&worker{userKill: true, killed: true}, nil, "INTENDED_USER_EXIT"},
		{&worker{killed: true}, nil, "INTENDED_SYSTEM_EXIT"},
		{&worker{}, crash, "SYSTEM_ERROR"},
	} {
		st := exitedWorker(c.w, c.err, time.Now())
		if st.ExitType != c.want || st.Alive || st.EndTimeMs == 0 {
			t.Errorf("%+v: %s (%s)", c.w, st.ExitType, st.ExitDetail)
		}
	}
	if st := exitedWorker(&worker{}, crash, time.Now()); st.ExitDetail != "the worker process exited: exit status 3" {
		t.Errorf("crash detail: %q", st.ExitDetail)
	}
}
