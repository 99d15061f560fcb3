package actors

import (
	"strconv"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
)

// TestLifecycle drives the directory from testdata/lifecycle.txt:
//
//	register id=a [name=x ns=y] [restarts=N] [job=j] [owner=addr] [owner-worker=w owner-node=n]
//	         [detached] [get-if-exists] [lightweight]
//	placed id=a node=n worker=w / created id=a node=n worker=w
//	creation-failed id=a / worker-died worker=w / node-died node=n
//	node-returned node=n [workers=w1,w2]
//	kill id=a [no-restart] / job-finished job=j / lookup name=x ns=y / show
//	out-of-scope id=a owner=addr / driver-died job=j driver=addr
//
// testdata/outofscope.txt (the owner's last handle gone),
// testdata/ownerdied.txt (the owner's process gone) and
// testdata/driverdied.txt (a driver gone without ending its job), each on a
// directory of its own.
func TestLifecycle(t *testing.T) {
	for _, f := range []string{"lifecycle.txt", "outofscope.txt", "ownerdied.txt", "driverdied.txt"} {
		t.Run(f, func(t *testing.T) { runLifecycle(t, "testdata/"+f) })
	}
}

func runLifecycle(t *testing.T, file string) {
	d := NewDirectory()
	effs := func(e []Effect) string {
		var s []string
		for _, x := range e {
			s = append(s, x.String())
		}
		if len(s) == 0 {
			return "ok"
		}
		return strings.Join(s, "\n")
	}
	datadriven.RunTest(t, file, func(t *testing.T, td *datadriven.TestData) string {
		id := td.Val("id", "")
		switch td.Cmd {
		case "register":
			n, _ := strconv.Atoi(td.Val("restarts", "0"))
			_, det := td.Arg("detached")
			_, gie := td.Arg("get-if-exists")
			_, lite := td.Arg("lightweight")
			a, e, err := d.Register(&Actor{ID: id, Name: td.Val("name", ""), Namespace: td.Val("ns", "default"),
				MaxRestarts: n, JobID: td.Val("job", "j1"), Detached: det, Owner: td.Val("owner", ""), Lightweight: lite,
				OwnerWorker: td.Val("owner-worker", ""), OwnerNode: td.Val("owner-node", "")}, gie)
			if err != nil {
				return "error: " + err.Error()
			}
			if a.ID != id {
				return "existing " + a.ID
			}
			return effs(e)
		case "placed":
			d.Placed(id, td.Val("node", ""), td.Val("worker", ""))
			return "ok"
		case "created":
			return effs(d.Created(id, td.Val("node", ""), td.Val("worker", ""), "addr"))
		case "creation-failed":
			return effs(d.CreationFailed(id, "bad input"))
		case "worker-died":
			return effs(d.WorkerDied(td.Val("worker", ""), "exit status 2"))
		case "node-died":
			return effs(d.NodeDied(td.Val("node", "")))
		case "node-returned":
			ws := map[string]bool{}
			for _, w := range strings.Split(td.Val("workers", ""), ",") {
				ws[w] = w != ""
			}
			return effs(d.NodeReturned(td.Val("node", ""), ws))
		case "kill":
			_, nr := td.Arg("no-restart")
			e, err := d.Kill(id, nr)
			if err != nil {
				return "error: " + err.Error()
			}
			return effs(e)
		case "out-of-scope":
			return effs(d.OutOfScope(id, td.Val("owner", "")))
		case "job-finished":
			return effs(d.JobFinished(td.Val("job", "")))
		case "driver-died":
			return effs(d.DriverDied(td.Val("job", ""), td.Val("driver", ""), "nothing listened at its address for 10s (5 probes)"))
		case "lookup":
			a, ok := d.Lookup(td.Val("ns", "default"), td.Val("name", ""))
			if !ok {
				return "not found"
			}
			return a.ID
		case "show":
			return d.Dump()
		}
		td.Fatalf(t, "unknown command")
		return ""
	})
}
