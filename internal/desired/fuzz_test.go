package desired

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"

	"github.com/goray-dev/goray/internal/raystart"
)

// shellWords splits what shellJoin writes — words of single-quoted pieces
// and backslash-escaped characters, separated by spaces — as /bin/sh does,
// and fails on anything unquoted that the shell would act on.
func shellWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); {
		switch c := s[i]; {
		case c == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			i++
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated quote at %d", i)
			}
			cur.WriteString(s[i+1 : i+1+j])
			inWord = true
			i += j + 2
		case c == '\\' && i+1 < len(s):
			cur.WriteByte(s[i+1])
			inWord = true
			i += 2
		default:
			return nil, fmt.Errorf("unquoted %q at %d", c, i)
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// runtimeArgv is the argv the Ray container runs goray with: its command, or
// the words after the user's command in the shell script.
func runtimeArgv(t *testing.T, ct corev1.Container, user string) []string {
	t.Helper()
	if user == "" {
		if len(ct.Args) != 0 {
			t.Fatalf("args %q without a user command", ct.Args)
		}
		return ct.Command
	}
	if !slices.Equal(ct.Command, []string{"/bin/sh", "-c", "--"}) || len(ct.Args) != 1 {
		t.Fatalf("command %q args %q, want /bin/sh -c -- and one script", ct.Command, ct.Args)
	}
	script, ok := strings.CutPrefix(ct.Args[0], user+" && exec ")
	if !ok {
		t.Fatalf("script %q does not start with the user's command", ct.Args[0])
	}
	words, err := shellWords(script)
	if err != nil {
		t.Fatalf("script %q: %v", script, err)
	}
	return words
}

// FuzzStartParams builds the head and worker pods of a cluster whose groups
// have one rayStartParams entry (key: value), one custom resource and one
// label, and checks how the value reaches `goray start`:
//   - no panic, and the same spec always gives the same pods;
//   - with a user command the runtime's words, quoted for /bin/sh, split back
//     into exactly the argv the container runs without one;
//   - no flag injection: against the same spec with the value "x", the argv
//     has the same words but the key's own, which is raystart.Arg's rendering
//     of the value (the value as a shell word; a switch bare or left out) — a
//     value never adds, removes or changes another argument (but port, which
//     is also the workers' --address port);
//   - the --resources and --labels arguments the groups' resources and labels
//     become are JSON objects with those keys (resources' numbers as numbers).
func FuzzStartParams(f *testing.F) {
	f.Add("num-cpus", "2", "TPU", "4", "team", "a", false)
	f.Add("num-cpus", "1 --block", "accel", "0.5", "", "", true)
	f.Add("resources", `'{"TPU": 4}'`, "", "", "k", "v'; rm -rf /", true)
	f.Add("node-ip-address", "$(RAY_POD_IP)", "Custom", "not a number", "a b", `"q"`, true)
	f.Add("port", "6380", "x", "1e3", "", "", false)
	f.Add("dashboard-host", "", "", "", "", "", true)
	f.Add("a=b", "c --head", "k\x00", "-1", "é", "\u2028", true)
	f.Add("memory", "1Gi", "accel", ".5", "<&>", "\xff", false)
	f.Add("num-gpus", "0", "n", "NaN", "", "", false)
	f.Add("block", "false", "", "", "", "", false)
	f.Add("labels", `{"a":"b"}`, "", "", "lbl", "x", true)
	f.Fuzz(func(t *testing.T, key, value, resName, resValue, labelKey, labelValue string, userCmd bool) {
		const user = "user-entry"
		build := func(v string, withUser bool) (*corev1.Pod, *corev1.Pod) {
			c := testCluster()
			h, g := &c.Spec.HeadGroupSpec, &c.Spec.WorkerGroupSpecs[0]
			h.RayStartParams = map[string]string{key: v}
			g.RayStartParams = map[string]string{key: v}
			if resName != "" {
				h.Resources = map[string]string{resName: resValue}
				g.Resources = map[string]string{resName: resValue}
			}
			if labelKey != "" {
				h.Labels = map[string]string{labelKey: labelValue}
				g.Labels = map[string]string{labelKey: labelValue}
			}
			if withUser {
				h.Template.Spec.Containers[0].Command = []string{user}
				g.Template.Spec.Containers[0].Command = []string{user}
			}
			return HeadPod(c, PodOptions{}), WorkerPod(c, g, PodOptions{})
		}
		head, worker := build(value, userCmd)
		head2, worker2 := build(value, userCmd)
		if !reflect.DeepEqual(head, head2) || !reflect.DeepEqual(worker, worker2) {
			t.Fatal("the same spec gave different pods")
		}
		userOf := func(withUser bool) string {
			if withUser {
				return user
			}
			return ""
		}
		argv := func(v string, withUser bool) (h, w []string) {
			hp, wp := build(v, withUser)
			return runtimeArgv(t, hp.Spec.Containers[0], userOf(withUser)), runtimeArgv(t, wp.Spec.Containers[0], userOf(withUser))
		}
		headArgv := runtimeArgv(t, head.Spec.Containers[0], userOf(userCmd))
		workerArgv := runtimeArgv(t, worker.Spec.Containers[0], userOf(userCmd))
		otherH, otherW := argv(value, !userCmd)
		if !slices.Equal(headArgv, otherH) || !slices.Equal(workerArgv, otherW) {
			t.Fatalf("with and without a user command the runtime's argv differ:\n %q\n %q", headArgv, otherH)
		}

		// The key's own word is raystart's rendering of the value, but for
		// the keys the builder renders itself (resources, labels, block).
		word, hasWord := raystart.Arg(key, value)
		own := func(a string) bool { return a == "--"+key || strings.HasPrefix(a, "--"+key+"=") }
		others := func(args []string) []string { return slices.DeleteFunc(slices.Clone(args), own) }
		baseH, baseW := argv("x", userCmd)
		for _, pair := range []struct {
			name      string
			got, base []string
		}{{"head", headArgv, baseH}, {"worker", workerArgv, baseW}} {
			if pair.got[0] != RuntimeBinary || pair.got[1] != "start" {
				t.Fatalf("%s: argv %q", pair.name, pair.got)
			}
			g, b := others(pair.got), others(pair.base)
			if len(g) != len(b) {
				t.Fatalf("%s: value %q gives %d other arguments, %q gives %d:\n %q\n %q", pair.name, value, len(g), "x", len(b), pair.got, pair.base)
			}
			for i := range g {
				// port is also the workers' --address port.
				address := key == "port" && pair.name == "worker" && strings.HasPrefix(g[i], "--address=") && strings.HasPrefix(b[i], "--address=")
				if g[i] != b[i] && !address {
					t.Fatalf("%s: value %q changed argument %q, with %q: %q", pair.name, value, g[i], "x", b[i])
				}
			}
			if key == "resources" || key == "labels" || key == "block" || key == "head" {
				continue
			}
			mine := slices.DeleteFunc(slices.Clone(pair.got), func(a string) bool { return !own(a) })
			if hasWord && !slices.Equal(mine, []string{word}) || !hasWord && len(mine) != 0 {
				t.Fatalf("%s: value %q gives %q, want %q (%v)", pair.name, value, mine, word, hasWord)
			}
		}

		for _, args := range [][]string{headArgv, workerArgv} {
			if resName != "" {
				checkJSONFlag(t, args, "resources", resName, func(raw json.RawMessage) {
					// A finite number is a JSON number of the same value;
					// anything else the quoted value, for the runtime to
					// reject with the key's name.
					if f, err := strconv.ParseFloat(resValue, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
						var n float64
						if err := json.Unmarshal(raw, &n); err != nil || n != f {
							t.Fatalf("--resources: %s=%s, want the number %v", resName, raw, f)
						}
						return
					}
					var s string
					if json.Unmarshal(raw, &s) != nil || (utf8.ValidString(resValue) && s != resValue) {
						t.Fatalf("--resources: %s=%s, want the quoted value %q", resName, raw, resValue)
					}
				})
			}
			if labelKey != "" {
				checkJSONFlag(t, args, "labels", labelKey, func(raw json.RawMessage) {
					var s string
					if json.Unmarshal(raw, &s) != nil || (utf8.ValidString(labelValue) && s != labelValue) {
						t.Fatalf("--labels: %s=%s, want %q", labelKey, raw, labelValue)
					}
				})
			}
		}
	})
}

// checkJSONFlag finds --name=JSON in args and checks that it is a JSON
// object with the one key (exactly, when the key is UTF-8: JSON carries no
// other), whose value check looks at.
func checkJSONFlag(t *testing.T, args []string, name, key string, check func(json.RawMessage)) {
	t.Helper()
	for _, a := range args {
		v, ok := strings.CutPrefix(a, "--"+name+"=")
		if !ok {
			continue
		}
		v = strings.ReplaceAll(v, "$$", "$") // the kubelet's unescaping
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(v), &m); err != nil {
			t.Fatalf("--%s=%s is not a JSON object: %v", name, v, err)
		}
		if len(m) != 1 {
			t.Fatalf("--%s=%s, want one key", name, v)
		}
		if !utf8.ValidString(key) {
			return
		}
		raw, ok := m[key]
		if !ok {
			t.Fatalf("--%s=%s, want the key %q", name, v, key)
		}
		check(raw)
		return
	}
	t.Fatalf("no --%s in %q", name, args)
}
