package scheduler

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/goray-dev/goray/runtime/internal/datadriven"
)

// TestScenarios drives the scheduler from testdata/*.txt scripts:
//
//	node id=n1 res=CPU:4 [labels=zone:a,disk:ssd]   add an alive node with total = available
//	take id=n1 res=CPU:1            consume resources on a node
//	kill id=n1                      mark a node dead
//	pick local=n1 res=CPU:1 [strategy=spread|affinity node=n2 soft] [select=zone:!a,disk:in(ssd|nvme)]
//	pg strategy=PACK bundles=CPU:1;CPU:1 (bundles separated by ';')
//	nodes                           print the snapshot
func TestScenarios(t *testing.T) {
	for _, file := range []string{"testdata/pick.txt", "testdata/placement_groups.txt", "testdata/labels.txt"} {
		t.Run(file, func(t *testing.T) {
			var nodes []Node
			st := &State{}
			find := func(id string) *Node {
				for i := range nodes {
					if nodes[i].ID == id {
						return &nodes[i]
					}
				}
				t.Fatalf("no node %s", id)
				return nil
			}
			res := func(d *datadriven.TestData, key string) Resources {
				v, _ := d.Arg(key)
				r, err := ParseResources(v)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				return r
			}
			datadriven.RunTest(t, file, func(t *testing.T, d *datadriven.TestData) string {
				switch d.Cmd {
				case "node":
					r := res(d, "res")
					nodes = append(nodes, Node{ID: d.Val("id", ""), Alive: true, Total: r, Available: r.Clone(), Labels: pairs(d, "labels")})
					return "ok"
				case "take":
					n := find(d.Val("id", ""))
					res(d, "res").SubFrom(n.Available)
					return "ok"
				case "kill":
					find(d.Val("id", "")).Alive = false
					return "ok"
				case "pick":
					s := Strategy{}
					switch d.Val("strategy", "default") {
					case "spread":
						s.Kind = Spread
					case "affinity":
						s.Kind = NodeAffinity
						s.NodeID = d.Val("node", "")
						_, s.Soft = d.Arg("soft")
					}
					s.Labels = Selector(pairs(d, "select"))
					dec := st.Pick(nodes, d.Val("local", ""), res(d, "res"), s)
					if dec.Status == Placed {
						res(d, "res").SubFrom(find(dec.NodeID).Available)
						return "placed " + dec.NodeID
					}
					return dec.Status.String()
				case "pg":
					v, _ := d.Arg("bundles")
					var bundles []Resources
					for _, b := range strings.Split(strings.Join(v, ","), ";") {
						r, err := ParseResources(strings.Split(b, ","))
						if err != nil {
							d.Fatalf(t, "%v", err)
						}
						bundles = append(bundles, r)
					}
					out, status, err := PlaceBundles(nodes, bundles, d.Val("strategy", ""))
					if err != nil {
						return "error: " + err.Error()
					}
					if status != Placed {
						return status.String()
					}
					for i, id := range out {
						bundles[i].SubFrom(find(id).Available)
					}
					return "placed " + strings.Join(out, " ")
				case "nodes":
					var b strings.Builder
					for _, n := range nodes {
						keys := []string{}
						for k := range n.Available {
							keys = append(keys, k)
						}
						sort.Strings(keys)
						fmt.Fprintf(&b, "%s alive=%v", n.ID, n.Alive)
						for _, k := range keys {
							fmt.Fprintf(&b, " %s=%g/%g", k, n.Available[k], n.Total[k])
						}
						b.WriteString("\n")
					}
					return b.String()
				}
				d.Fatalf(t, "unknown command")
				return ""
			})
		})
	}
}

// pairs reads key:value,... (a '|' in a value stands for a comma).
func pairs(d *datadriven.TestData, key string) map[string]string {
	v, ok := d.Arg(key)
	if !ok {
		return nil
	}
	out := map[string]string{}
	for _, kv := range v {
		k, val, _ := strings.Cut(kv, ":")
		out[k] = strings.ReplaceAll(val, "|", ",")
	}
	return out
}

func TestKey(t *testing.T) {
	if k := (Resources{"GPU": 1, "CPU": 2, "x": 0}).Key(); k != "CPU=2,GPU=1" {
		t.Fatalf("key %q", k)
	}
}
