package routes

import "testing"

func TestMatchLongestPrefix(t *testing.T) {
	tb := &Table{Apps: []App{{Name: "root", RoutePrefix: "/"}, {Name: "api", RoutePrefix: "/api"}, {Name: "v1", RoutePrefix: "/api/v1"}}}
	for path, want := range map[string][2]string{
		"/": {"root", "/"}, "/x": {"root", "/x"}, "/api": {"api", "/"}, "/api/": {"api", "/"}, "/apix": {"root", "/apix"},
		"/api/v1/items": {"v1", "/items"}, "/api/v2": {"api", "/v2"},
	} {
		a, rest := tb.Match(path)
		if a == nil || a.Name != want[0] || rest != want[1] {
			t.Errorf("Match(%q) = %v %q, want %v", path, a, rest, want)
		}
	}
	if a, _ := (&Table{Apps: []App{{Name: "api", RoutePrefix: "/api"}}}).Match("/other"); a != nil {
		t.Errorf("unmatched path routed to %s", a.Name)
	}
	if m := tb.RouteMap(); len(m) != 3 || m["/api/v1"] != "v1" {
		t.Errorf("RouteMap = %v", m)
	}
}

func TestServes(t *testing.T) {
	for _, c := range []struct {
		location string
		head     bool
		want     bool
	}{
		{"", false, true}, {"", true, true}, {EveryNode, false, true},
		{HeadOnly, true, true}, {HeadOnly, false, false},
		{Disabled, true, false}, {Disabled, false, false},
	} {
		if got := Serves(c.location, c.head); got != c.want {
			t.Errorf("Serves(%q, head %v) = %v", c.location, c.head, got)
		}
	}
}

// A split forwards exactly Percent of every 100 consecutive requests,
// whatever the count it starts from, and none without a target.
func TestSplitForwardsExactlyItsPercent(t *testing.T) {
	for p := 0; p <= 100; p++ {
		s := Split{Target: "http://x:8000", Percent: p}
		for _, from := range []uint64{0, 37, 1 << 40} {
			n := 0
			for i := from; i < from+100; i++ {
				if s.Forward(i) {
					n++
				}
			}
			if n != p {
				t.Fatalf("percent %d from %d: %d of 100 forwarded", p, from, n)
			}
		}
	}
	if (Split{Percent: 50}).Forward(1) || (Split{Percent: 50}).Forward(0) {
		t.Fatal("a split without a target forwarded")
	}
	// Spread evenly: at 25%, one request in every four.
	s := Split{Target: "http://x:8000", Percent: 25}
	for i := uint64(0); i < 100; i += 4 {
		n := 0
		for j := i; j < i+4; j++ {
			if s.Forward(j) {
				n++
			}
		}
		if n != 1 {
			t.Fatalf("25%%: %d of requests %d..%d forwarded", n, i, i+3)
		}
	}
}
