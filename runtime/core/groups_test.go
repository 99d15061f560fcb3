package core

import (
	"strings"
	"testing"
)

func TestActorGroupsSemaphores(t *testing.T) {
	g := newActorGroups(0, map[string]int32{"io": 3})
	def, err := g.sem("")
	if err != nil || cap(def) != 1 {
		t.Fatalf("default group: %v, size %d; want 1", err, cap(def))
	}
	io, err := g.sem("io")
	if err != nil || cap(io) != 3 {
		t.Fatalf("io: %v, size %d", err, cap(io))
	}
	if _, err := g.sem("db"); err == nil || !strings.Contains(err.Error(), `"db" is not defined`) || !strings.Contains(err.Error(), "[io]") {
		t.Fatalf("unknown group: %v", err)
	}
	if g := newActorGroups(4, nil); cap(g.def) != 4 || g.named != nil {
		t.Fatal("max_concurrency without groups")
	}
}
