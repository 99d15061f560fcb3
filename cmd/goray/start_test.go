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

// TestServeGRPCPortStepsAside: a gRPC port left to its default (9000)
// turns the gRPC proxy off, with a note, when --serve-port takes 9000 (what
// the operator passes for KubeRay's ray-service.different-port.yaml); both
// given as one port is an error; anything else is kept.
func TestServeGRPCPortStepsAside(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		wantPort int
		wantNote bool
		wantErr  string
	}{
		{name: "defaults", args: nil, wantPort: 9000},
		{name: "HTTP on 9000 by the operator", args: []string{"--serve-port=9000"}, wantPort: 0, wantNote: true},
		{name: "HTTP on 9000, gRPC moved", args: []string{"--serve-port=9000", "--serve-grpc-port=9001"}, wantPort: 9001},
		{name: "HTTP on 9000, gRPC off", args: []string{"--serve-port=9000", "--serve-grpc-port=0"}, wantPort: 0},
		{name: "both given as 9000", args: []string{"--serve-port=9000", "--serve-grpc-port=9000"},
			wantErr: "--serve-port and --serve-grpc-port are both 9000: give the serve gRPC proxy another port, or --serve-grpc-port=0 for none"},
		{name: "gRPC given on the default HTTP port", args: []string{"--serve-grpc-port=8000"},
			wantErr: "--serve-port and --serve-grpc-port are both 8000: give the serve gRPC proxy another port, or --serve-grpc-port=0 for none"},
		{name: "HTTP off", args: []string{"--serve-port=0"}, wantPort: 9000},
		{name: "HTTP elsewhere", args: []string{"--serve-port=8080"}, wantPort: 9000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &startFlags{ignoredStr: map[string]*string{}, ignoredBool: map[string]*bool{}}
			cmd := startCommand(f)
			if err := cmd.ParseFlags(append([]string{"--head"}, tc.args...)); err != nil {
				t.Fatal(err)
			}
			err := f.resolveServeGRPCPort(cmd.Flags())
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || f.serveGRPCPort != tc.wantPort || (f.serveGRPCNote != "") != tc.wantNote {
				t.Fatalf("gRPC port %d note %q err %v, want %d (note %v)", f.serveGRPCPort, f.serveGRPCNote, err, tc.wantPort, tc.wantNote)
			}
		})
	}
}
