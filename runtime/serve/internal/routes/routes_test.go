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
