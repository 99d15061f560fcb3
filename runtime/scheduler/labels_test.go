package scheduler

import (
	"fmt"
	"strings"
	"testing"
)

func TestSelectorMatches(t *testing.T) {
	node := map[string]string{"zone": "a", "disk": "ssd", "ray.io/node-id": "n1"}
	for _, c := range []struct {
		sel  Selector
		want bool
	}{
		{Selector{}, true},
		{Selector{"zone": "a"}, true},
		{Selector{"zone": "b"}, false},
		{Selector{"zone": "!b"}, true},
		{Selector{"zone": "!a"}, false},
		{Selector{"gpu": "!a100"}, true}, // absent: not a100
		{Selector{"gpu": "a100"}, false},
		{Selector{"zone": "in(b, a)"}, true},
		{Selector{"zone": "in(b,c)"}, false},
		{Selector{"zone": "!in(b,c)"}, true},
		{Selector{"gpu": "!in(a100,h100)"}, true},
		{Selector{"zone": "a", "disk": "hdd"}, false},
		{Selector{"zone": "a", "ray.io/node-id": "n1"}, true},
		{Selector{"zone": "in(a"}, false}, // invalid: matches nothing
	} {
		if got := c.sel.Matches(node); got != c.want {
			t.Errorf("%v.Matches(%v) = %v, want %v", c.sel, node, got, c.want)
		}
	}
}

func TestSelectorValidate(t *testing.T) {
	for _, ok := range []Selector{{"zone": "a"}, {"ray.io/accelerator-type": "!in(A100, H100)"}, {"example.com/x_y.z": "v-1.2_3"}} {
		if err := ok.Validate(); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	for _, bad := range []Selector{{"": "a"}, {"zone": ""}, {"zone": "!"}, {"zone": "in()"}, {"zone": "in(a,)"},
		{"zone": "in(a"}, {"zone": "a b"}, {"-zone": "a"}, {"zone": strings.Repeat("x", 64)}, {"UPPER.com/x": "a"}} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%v validated", bad)
		}
	}
}

func TestParseLabels(t *testing.T) {
	for in, want := range map[string]map[string]string{
		"":                             {},
		`{"zone": "a", "disk": "ssd"}`: {"zone": "a", "disk": "ssd"},
		"zone=a,disk=ssd":              {"zone": "a", "disk": "ssd"},
		" zone = a ":                   {"zone": "a"},
		"empty=":                       {"empty": ""},
	} {
		got, err := ParseLabels(in)
		if err != nil || len(got) != len(want) {
			t.Errorf("ParseLabels(%q) = %v, %v; want %v", in, got, err, want)
			continue
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("ParseLabels(%q)[%s] = %q, want %q", in, k, got[k], v)
			}
		}
	}
	for _, bad := range []string{"zone", `{"zone": 1}`, "zone=a b", "=a", "ray.io/node-id=x", `{"a":`, strings.Repeat("a=b,", 70000)} {
		if _, err := ParseLabels(bad); err == nil {
			t.Errorf("ParseLabels(%q) accepted", bad)
		}
	}
}

// FuzzLabels: label text from a command line and selectors from a task's
// options are outside input: they parse or fail, never panic, and what
// parses keeps to the label grammar.
func FuzzLabels(f *testing.F) {
	for _, s := range []string{"", "zone=a", `{"a":"b"}`, "!in(a,b)", "in(", "a=b,c=d"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, labels, expr string) {
		if len(labels) > 4096 || len(expr) > 4096 {
			return
		}
		m, err := ParseLabels(labels)
		if err == nil {
			for k, v := range m {
				if !ValidLabelKey(k) || !ValidLabelValue(v) {
					t.Fatalf("ParseLabels(%q) gave %q=%q", labels, k, v)
				}
			}
		}
		sel := Selector{"k": expr}
		if sel.Validate() != nil && sel.Matches(m) {
			t.Fatalf("an invalid selector %q matched", expr)
		}
	})
}

// BenchmarkPickWithLabelSelector: one decision over 250 labelled nodes
// with a two-key selector (the selector is parsed once per decision).
func BenchmarkPickWithLabelSelector(b *testing.B) {
	nodes := make([]Node, 250)
	for i := range nodes {
		zone := []string{"a", "b", "c"}[i%3]
		nodes[i] = Node{ID: fmt.Sprintf("n%03d", i), Alive: true, Total: Resources{"CPU": 8}, Available: Resources{"CPU": 8},
			Labels: map[string]string{"zone": zone, "disk": "ssd"}}
	}
	st := Strategy{Labels: Selector{"zone": "in(b,c)", "disk": "!hdd"}}
	s := &State{}
	for b.Loop() {
		s.Pick(nodes, "n000", Resources{"CPU": 1}, st)
	}
}
