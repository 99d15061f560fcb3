package raystart

import (
	"strings"
	"testing"
)

// expand is the kubelet's $(NAME) expansion of a container argument
// (k8s.io/kubernetes third_party/forked/golang/expansion) with every
// variable unset, which keeps $(NAME) as it is: $$ is one $.
func expand(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) && s[i+1] == '$' {
			b.WriteByte('$')
			i++
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// singleQuote quotes s for /bin/sh.
func singleQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// FuzzParse reads arbitrary values as rayStartParams:
//   - no panic; the same input always gives the same word;
//   - the container argument is the word for the kubelet: expanding it with
//     nothing set gives back the word, so no '$' of the user's becomes a
//     reference and no reference is lost;
//   - a word without references, quoted for the shell, reads back as itself
//     (what the shell would pass, Parse passes);
//   - the rendered flag is one argument that starts with --key.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`2`, `"{\"resource1\": 2}"`, `'{"TPU": 4}'`, `{"TPU": 4}`, `$REDIS_PASSWORD`,
		`$(MY_POD_IP)`, `"${A}-$B"`, `'$$'`, `a\ b`, `1 --block`, "`id`", `$(id -u)`, `"a\b\"c"`, `'it'\''s'`, ``, `true`} {
		f.Add("resources", s)
	}
	f.Fuzz(func(t *testing.T, key, raw string) {
		w, err := Parse(raw)
		w2, err2 := Parse(raw)
		if (err == nil) != (err2 == nil) || w.String() != w2.String() || w.Arg() != w2.Arg() {
			t.Fatalf("Parse(%q) is not deterministic", raw)
		}
		a, ok := Arg(key, raw)
		if ok && !strings.HasPrefix(a, "--"+key) {
			t.Fatalf("Arg(%q, %q) = %q", key, raw, a)
		}
		if err != nil {
			return
		}
		if got := expand(w.Arg()); got != w.String() {
			t.Fatalf("Parse(%q): the kubelet makes %q of the argument %q, want the word %q", raw, got, w.Arg(), w.String())
		}
		if len(w.Refs()) > 0 {
			return
		}
		again, err := Parse(singleQuote(w.String()))
		if err != nil || again.String() != w.String() {
			t.Fatalf("Parse(%q) = %q; quoted again it reads %q (%v)", raw, w.String(), again.String(), err)
		}
	})
}
