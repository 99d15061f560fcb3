package main

import (
	"slices"
	"testing"

	"github.com/goray-dev/goray/internal/raystart"
)

// TestStartTakesEveryFlagTheOperatorRenders: each flag raystart renders as
// --key=value is a value flag of `goray start`, each switch a bool flag, so
// the operator's arguments parse as they were meant.
func TestStartTakesEveryFlagTheOperatorRenders(t *testing.T) {
	fl := startCmd().Flags()
	for _, n := range raystart.ValueFlags {
		if f := fl.Lookup(n); f == nil || f.Value.Type() == "bool" {
			t.Errorf("--%s: want a flag that takes a value, have %v", n, f)
		}
	}
	for _, n := range raystart.Switches {
		if f := fl.Lookup(n); f == nil || f.Value.Type() != "bool" {
			t.Errorf("--%s: want a switch, have %v", n, f)
		}
	}
}

// TestStartParsesRenderedParams parses what the operator renders from
// rayStartParams: an empty value stays that flag's value instead of taking
// the next argument, and shell words arrive unquoted.
func TestStartParsesRenderedParams(t *testing.T) {
	f := &startFlags{ignoredStr: map[string]*string{}, ignoredBool: map[string]*bool{}}
	cmd := startCommand(f)
	args := append([]string{"--head"}, raystart.Args(map[string]string{
		"node-name": "", "num-cpus": `"2"`, "port": "6380", "resources": `"{\"resource1\": 2}"`,
		"disable-usage-stats": "true", "no-monitor": "false", "log-style": "pretty", "block": "",
		"temp-dir": `'/tmp/a b'`,
	})...)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("%q: %v", args, err)
	}
	if f.port != 6380 || f.numCPUs != 2 || f.resources != `{"resource1": 2}` || !f.block || f.tempDir != "/tmp/a b" ||
		*f.ignoredStr["node-name"] != "" || !*f.ignoredBool["disable-usage-stats"] || *f.ignoredBool["no-monitor"] {
		t.Errorf("%q parsed as %+v", args, f)
	}
	if !slices.Contains(args, "--node-name=") {
		t.Errorf("args %q", args)
	}
}
