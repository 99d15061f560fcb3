package planner

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Scenario files in testdata/ hold one planner input and the expected
// decision. Durations are written as Go duration strings ("30s").
type scenario struct {
	Doc   string `json:"doc"`
	Input struct {
		Input
		Types       []tType `json:"types"`
		Nodes       []tNode `json:"nodes"`
		IdleTimeout string  `json:"idleTimeout"`
	} `json:"input"`
	Want struct {
		Replicas        map[string]int32 `json:"replicas"`
		Delete          []string         `json:"delete"`
		Infeasible      []string         `json:"infeasible"`
		InfeasibleGangs []string         `json:"infeasibleGangs"`
		Unmet           []string         `json:"unmet"`
		Reasons         []string         `json:"reasonsContain"`
	} `json:"want"`
}

type tType struct {
	NodeType
	IdleTimeout string `json:"idleTimeout"`
}

type tNode struct {
	Node
	Idle string `json:"idle"`
}

func dur(t *testing.T, s string) time.Duration {
	if s == "" {
		return 0
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		t.Fatalf("duration %q: %v", s, err)
	}
	return d
}

func loadScenario(t *testing.T, path string) (scenario, Input) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var sc scenario
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&sc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	in := sc.Input.Input
	in.IdleTimeout = dur(t, sc.Input.IdleTimeout)
	in.Types, in.Nodes = nil, nil
	for _, ty := range sc.Input.Types {
		nt := ty.NodeType
		nt.IdleTimeout = dur(t, ty.IdleTimeout)
		in.Types = append(in.Types, nt)
	}
	for _, n := range sc.Input.Nodes {
		nn := n.Node
		nn.Idle = dur(t, n.Idle)
		in.Nodes = append(in.Nodes, nn)
	}
	return sc, in
}

func TestPlanScenarios(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	if len(files) == 0 {
		t.Fatal("no scenarios in testdata/")
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".json"), func(t *testing.T) {
			sc, in := loadScenario(t, f)
			d := Plan(in)
			t.Logf("%s\ndecision: %s", sc.Doc, d.Reason())
			if !reflect.DeepEqual(d.Replicas, sc.Want.Replicas) {
				t.Errorf("replicas = %v, want %v", d.Replicas, sc.Want.Replicas)
			}
			var del, inf, gangs, unmet []string
			for _, x := range d.Delete {
				del = append(del, x.Pod)
			}
			for _, r := range d.Infeasible {
				inf = append(inf, r.String())
			}
			for _, g := range d.InfeasibleGangs {
				gangs = append(gangs, g.ID)
			}
			for _, r := range d.Unmet {
				unmet = append(unmet, r.String())
			}
			for _, c := range []struct {
				what      string
				got, want []string
			}{{"delete", del, sc.Want.Delete}, {"infeasible", inf, sc.Want.Infeasible},
				{"infeasibleGangs", gangs, sc.Want.InfeasibleGangs}, {"unmet", unmet, sc.Want.Unmet}} {
				if strings.Join(c.got, " ") != strings.Join(c.want, " ") {
					t.Errorf("%s = %q, want %q", c.what, c.got, c.want)
				}
			}
			for _, r := range sc.Want.Reasons {
				if !strings.Contains(d.Reason(), r) {
					t.Errorf("reason %q does not contain %q", d.Reason(), r)
				}
			}
		})
	}
}

// Plan must not change its input (the loop reuses it for reporting).
func TestPlanDoesNotMutateInput(t *testing.T) {
	in := Input{
		Types:   []NodeType{{Name: "cpu", Resources: Resources{"CPU": 2}, MaxReplicas: 5}},
		Nodes:   []Node{{Pod: "w1", NodeID: "n1", Type: "cpu", Total: Resources{"CPU": 2}, Available: Resources{"CPU": 2}}},
		Pending: []Request{{Shape: Resources{"CPU": 1}, Count: 5}},
	}
	before, _ := json.Marshal(in)
	Plan(in)
	after, _ := json.Marshal(in)
	if string(before) != string(after) {
		t.Fatalf("input changed:\n%s\n%s", before, after)
	}
}
