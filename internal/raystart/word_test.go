package raystart

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		raw, text, arg string
		refs           []string
	}{
		{raw: `2`, text: `2`, arg: `2`},
		{raw: ` 0.0.0.0 `, text: `0.0.0.0`, arg: `0.0.0.0`},
		// KubeRay's ray-job.resources.yaml and tpu samples.
		{raw: `"{\"resource1\": 2, \"resource2\": 3}"`, text: `{"resource1": 2, "resource2": 3}`, arg: `{"resource1": 2, "resource2": 3}`},
		{raw: `'{"TPU": 4}'`, text: `{"TPU": 4}`, arg: `{"TPU": 4}`},
		// A bare JSON object is kept, not split and stripped of its quotes.
		{raw: `{"TPU": 4}`, text: `{"TPU": 4}`, arg: `{"TPU": 4}`},
		{raw: `'it'\''s'`, text: `it's`, arg: `it's`},
		{raw: `a\ b`, text: `a b`, arg: `a b`},
		{raw: `"a\b\"c\$d"`, text: `a\b"c$d`, arg: `a\b"c$$d`},
		{raw: `'$HOME'`, text: `$HOME`, arg: `$$HOME`},
		{raw: `cost$`, text: `cost$`, arg: `cost$$`},
		{raw: `$REDIS_PASSWORD`, text: `$(REDIS_PASSWORD)`, arg: `$(REDIS_PASSWORD)`, refs: []string{"REDIS_PASSWORD"}},
		{raw: `"${A}-$B"`, text: `$(A)-$(B)`, arg: `$(A)-$(B)`, refs: []string{"A", "B"}},
		{raw: `$(MY_POD_IP)`, text: `$(MY_POD_IP)`, arg: `$(MY_POD_IP)`, refs: []string{"MY_POD_IP"}},
		{raw: `*.log`, text: `*.log`, arg: `*.log`},
		{raw: "a\\\nb", text: `ab`, arg: `ab`},
		{raw: `""`, text: ``, arg: ``},
	} {
		w, err := Parse(tc.raw)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.raw, err)
			continue
		}
		if w.String() != tc.text || w.Arg() != tc.arg || !slices.Equal(w.Refs(), tc.refs) {
			t.Errorf("Parse(%q) = %q, arg %q, refs %q; want %q, %q, %q", tc.raw, w.String(), w.Arg(), w.Refs(), tc.text, tc.arg, tc.refs)
		}
	}
}

func TestParseRefusesWhatTheShellWouldRunOrSplit(t *testing.T) {
	for _, raw := range []string{`1 --block`, `a;b`, `a|b`, `a&`, `<x`, `(x)`, "`id`", `"$(id -u)"`, `$(id -u)`,
		`'open`, `"open`, `x\`, `${A:-b}`, `$1`, `$?`, `$$`, `$'x'`, `"a"b c`} {
		if w, err := Parse(raw); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", raw, w.String())
		}
	}
}

// TestParseAgreesWithTheShell runs KubeRay's rendering (--key=value in a
// /bin/sh script) and checks that the shell passes the word Parse reads.
func TestParseAgreesWithTheShell(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no /bin/sh")
	}
	for _, raw := range []string{`"{\"resource1\": 2, \"resource2\": 3}"`, `'{"TPU": 4}'`, `'it'\''s'`, `a\ b`,
		`"a\b\"c\$d\\e"`, `'$HOME'`, `cost$`, `"$X-${X}"`, `"a'b"`, `'a"b'`, `x\#y`, `#x`, `a=b`, `""`, `"\n"`, `'\n'`} {
		w, err := Parse(raw)
		if err != nil {
			t.Fatalf("Parse(%q): %v", raw, err)
		}
		cmd := exec.Command(sh, "-c", `for a in --key=`+raw+`; do printf '%s\0' "$a"; done`)
		cmd.Env = []string{"X=val"}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh with %q: %v", raw, err)
		}
		words := strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00")
		want := strings.ReplaceAll(w.String(), "$(X)", "val")
		if len(words) != 1 || words[0] != "--key="+want {
			t.Errorf("sh passes %q for %q, Parse reads %q", words, raw, w.String())
		}
	}
}
