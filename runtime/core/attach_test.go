package core

import (
	"fmt"
	"strings"
	"testing"
	"time"

	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func TestChooseNode(t *testing.T) {
	head := &rpcpb.NodeView{NodeId: "h1", Address: "127.0.0.1:100", Ip: "127.0.0.1", Alive: true, IsHead: true}
	oldHead := &rpcpb.NodeView{NodeId: "h0", Address: "127.0.0.1:99", Ip: "127.0.0.1", Alive: false, IsHead: true}
	w2 := &rpcpb.NodeView{NodeId: "b", Address: "127.0.0.2:200", Ip: "127.0.0.2", Alive: true}
	w3 := &rpcpb.NodeView{NodeId: "a", Address: "127.0.0.3:300", Ip: "127.0.0.3", Alive: true}
	cases := []struct {
		name  string
		nodes []*rpcpb.NodeView
		ip    string
		avoid []string
		want  string
	}{
		{"this machine's node first", []*rpcpb.NodeView{head, w2, w3}, "127.0.0.2", nil, "b"},
		{"else the head", []*rpcpb.NodeView{w2, head, w3}, "10.0.0.1", nil, "h1"},
		{"a dead node is never chosen", []*rpcpb.NodeView{oldHead, w2, w3}, "127.0.0.1", nil, "a"},
		{"an avoided address is skipped", []*rpcpb.NodeView{head, w2, w3}, "127.0.0.1", []string{head.Address}, "a"},
		{"lowest id among the rest", []*rpcpb.NodeView{w2, w3}, "10.0.0.1", nil, "a"},
		{"nothing left", []*rpcpb.NodeView{oldHead, w2}, "127.0.0.2", []string{w2.Address}, ""},
		{"no nodes", nil, "127.0.0.1", nil, ""},
	}
	for _, c := range cases {
		avoid := map[string]bool{}
		for _, a := range c.avoid {
			avoid[a] = true
		}
		got := ""
		if n := ChooseNode(c.nodes, c.ip, avoid); n != nil {
			got = n.NodeId
		}
		if got != c.want {
			t.Errorf("%s: chose %q, want %q", c.name, got, c.want)
		}
	}
}

func TestSuspectNodes(t *testing.T) {
	nodes := []*rpcpb.NodeView{
		{NodeId: "alive", Alive: true},
		{NodeId: "awaiting", Alive: false}, // loaded by a restarted GCS, not registered yet
		{NodeId: "dead", Alive: false},
	}
	held := map[string]string{"alive": "a:1", "awaiting": "a:2", "dead": "a:3", "unknown": "a:4"}
	at := &attachment{id: "dead", addr: "a:3"}
	got := suspectNodes(nodes, held, at, true)
	want := map[string]string{"awaiting": "a:2", "dead": "a:3", "unknown": "a:4"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("suspects %v, want %v (every node not listed alive is asked, none declared dead on the GCS's word)", got, want)
	}
	// A driver's attached node is asked too when it holds no lease there.
	got = suspectNodes(nodes, map[string]string{}, &attachment{id: "awaiting", addr: "a:2"}, true)
	if fmt.Sprint(got) != fmt.Sprint(map[string]string{"awaiting": "a:2"}) {
		t.Fatalf("attached node not asked: %v", got)
	}
	// A worker (which cannot move) asks only about its leases.
	got = suspectNodes(nodes, map[string]string{}, &attachment{id: "awaiting", addr: "a:2"}, false)
	if len(got) != 0 {
		t.Fatalf("a worker asked about its own node: %v", got)
	}
	if got := suspectNodes(nodes, map[string]string{"alive": "a:1"}, &attachment{id: "alive"}, true); len(got) != 0 {
		t.Fatalf("live nodes suspected: %v", got)
	}
}

type lines struct{ got []string }

func (l *lines) Printf(format string, args ...any) {
	l.got = append(l.got, fmt.Sprintf(format, args...))
}

func TestLogLimiter(t *testing.T) {
	now := time.Unix(0, 0)
	l := newLogLimiter(10 * time.Second)
	l.now = func() time.Time { return now }
	out := &lines{}
	// A retry loop at 10 lines a second for a minute.
	for i := 0; i < 600; i++ {
		l.printf(out, "lease request failed: %d", i)
		now = now.Add(100 * time.Millisecond)
	}
	if len(out.got) != 6 {
		t.Fatalf("%d lines in a minute, want 6 (one per 10 s):\n%s", len(out.got), strings.Join(out.got, "\n"))
	}
	if out.got[0] != "lease request failed: 0" {
		t.Fatalf("first line %q: the first failure is logged at once", out.got[0])
	}
	if !strings.Contains(out.got[1], "lease request failed: 100 (99 similar messages") {
		t.Fatalf("second line %q does not count the ones left out", out.got[1])
	}
}
