package generator

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
)

// TestScenarios drives one stream from testdata scripts:
//
//	new [threshold=n]
//	report [attempt=a] first=i n=k [waiter=w]
//	next / finish / fail / retry attempt=a / drop / unthrottle / yield [on=false]
//	show
func TestScenarios(t *testing.T) {
	for _, file := range []string{"testdata/stream.txt", "testdata/backpressure.txt", "testdata/retry.txt", "testdata/yield.txt"} {
		t.Run(file, func(t *testing.T) {
			var s *Stream
			acks := func(a []Ack) string {
				var out []string
				for _, x := range a {
					line := fmt.Sprintf("ack %v consumed=%d", x.Waiter, x.Consumed)
					if x.Stop {
						line += " stop"
					}
					out = append(out, line)
				}
				return strings.Join(out, "\n")
			}
			join := func(parts ...string) string {
				var out []string
				for _, p := range parts {
					if p != "" {
						out = append(out, p)
					}
				}
				if len(out) == 0 {
					return "ok"
				}
				return strings.Join(out, "\n")
			}
			num := func(d *datadriven.TestData, key string) int64 {
				n, err := strconv.ParseInt(d.Val(key, "0"), 10, 64)
				if err != nil {
					d.Fatalf(t, "%s: %v", key, err)
				}
				return n
			}
			datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "new":
					s = NewStream(num(d, "threshold"))
					return "ok"
				case "report":
					r, err := s.Report(int32(num(d, "attempt")), num(d, "first"), int(num(d, "n")), d.Val("waiter", "-"))
					if err != nil {
						return "error: " + err.Error()
					}
					if r.Stale {
						return fmt.Sprintf("stale consumed=%d", r.Consumed)
					}
					out := fmt.Sprintf("%v", r.Items)
					if r.Hold {
						return out + " hold"
					}
					return fmt.Sprintf("%s reply consumed=%d", out, r.Consumed)
				case "next":
					i, ok, end, a := s.Next()
					switch {
					case ok:
						return join("item "+strconv.FormatInt(i, 10), acks(a))
					case end:
						return "end"
					}
					return "wait"
				case "finish":
					return join(acks(s.Finish()))
				case "fail":
					i, ok, a := s.Fail()
					if ok {
						return join("error item "+strconv.FormatInt(i, 10), acks(a))
					}
					return join("no error item", acks(a))
				case "retry":
					return join(acks(s.Retry(int32(num(d, "attempt")))))
				case "unthrottle":
					return join(acks(s.Unthrottle()))
				case "yield":
					return join(acks(s.Yield(d.Val("on", "true") == "true")))
				case "drop":
					from, to, a := s.Drop()
					return join(fmt.Sprintf("release [%d,%d)", from, to), acks(a))
				case "show":
					return s.String()
				}
				d.Fatalf(t, "unknown command %q", d.Cmd)
				return ""
			})
		})
	}
}
