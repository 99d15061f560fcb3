package core

import (
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
)

// TestLeaseAskScenarios drives one lease request's decisions from
// testdata/leaseask.txt: "new" starts a request (affinity=hard|soft,
// placement), then the replies and failures its calls meet; each prints the
// steps the driver would take.
func TestLeaseAskScenarios(t *testing.T) {
	var a *leaseAsk
	datadriven.RunTest(t, "testdata/leaseask.txt", func(t *testing.T, d *datadriven.TestData) string {
		var steps []askStep
		switch d.Cmd {
		case "new":
			_, pg := d.Arg("placement")
			a = newLeaseAsk(d.Val("affinity", "") == "hard", pg)
			steps = a.start()
		case "granted":
			steps = a.granted()
		case "spillback":
			steps = a.spillback(d.Val("to", ""))
		case "dial-failed":
			steps = a.dialFailed()
		case "rejected":
			steps = a.rejected(d.Val("msg", "no room"))
		case "unanswered":
			steps = a.unanswered()
		case "call-failed":
			_, c := d.Arg("cancelled")
			_, u := d.Arg("unavailable")
			_, at := d.Arg("at-attached")
			steps = a.callFailed(c, u, at)
		case "state":
			return strings.TrimSpace(a.state())
		default:
			d.Fatalf(t, "unknown command")
		}
		var b strings.Builder
		for _, s := range steps {
			b.WriteString(s.String())
			b.WriteByte('\n')
		}
		return strings.TrimSpace(b.String())
	})
}
