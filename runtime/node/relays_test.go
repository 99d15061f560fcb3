package node

import "testing"

func TestRelayPlanChainsConcurrentPullers(t *testing.T) {
	p := newRelayPlan()
	steps := []struct {
		op, id, puller, want string
	}{
		{"assign", "o", "B", ""},  // the first puller: from here
		{"assign", "o", "C", "B"}, // then each from the last one in the chain
		{"assign", "o", "D", "C"},
		{"assign", "o", "E", "D"},
		{"assign", "x", "C", ""}, // another object: its own chain
		{"assign", "x", "B", "C"},
		{"done", "o", "", ""},    // this node's stream to B ended
		{"assign", "o", "F", ""}, // a later puller: from here again
		{"assign", "o", "G", "F"},
		{"norelay", "o", "G", ""}, // G's relay failed: it asks here again, for the bytes
		{"assign", "o", "H", "G"},
	}
	for i, s := range steps {
		switch s.op {
		case "assign", "norelay":
			if got := p.assign(s.id, s.puller, s.op == "assign"); got != s.want {
				t.Fatalf("step %d: %s of %s from %q, want %q", i, s.puller, s.id, got, s.want)
			}
		case "done":
			p.done(s.id)
		}
	}
	p.done("x")
	if _, ok := p.objects["x"]; ok {
		t.Fatal("the record of x outlived its one stream")
	}
	p.done("o")
	p.done("o")
	p.done("o")
	p.done("o") // more done calls than streams: harmless
	if len(p.objects) != 0 {
		t.Fatalf("records left: %v", p.objects)
	}
}
