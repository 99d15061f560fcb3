// Package datadriven runs scenario scripts from testdata files, in the style of
// etcd raft's and CockroachDB's datadriven tests: each case is a command line,
// a "----" separator and the expected output, separated by blank lines.
//
//	add-node n1 CPU=4
//	----
//	ok
//
// Run the tests with -rewrite to replace expected outputs with actual ones.
package datadriven

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var rewrite = flag.Bool("rewrite", false, "rewrite datadriven testdata expectations with actual output")

// TestData is one command of a script.
type TestData struct {
	Pos  string // file:line
	Cmd  string
	Args []Arg
	// Input holds lines between the command and the separator.
	Input    string
	Expected string
}

// Arg is key=value (Vals has the comma-separated values) or a bare key.
type Arg struct {
	Key  string
	Vals []string
}

// Arg returns the values of the named argument.
func (d *TestData) Arg(key string) ([]string, bool) {
	for _, a := range d.Args {
		if a.Key == key {
			return a.Vals, true
		}
	}
	return nil, false
}

// Val returns the first value of the named argument or def.
func (d *TestData) Val(key, def string) string {
	if v, ok := d.Arg(key); ok && len(v) > 0 {
		return v[0]
	}
	return def
}

// Fatalf fails the test with the position of this command.
func (d *TestData) Fatalf(t testing.TB, format string, args ...any) {
	t.Helper()
	t.Fatalf("%s: %s: %s", d.Pos, d.Cmd, fmt.Sprintf(format, args...))
}

// RunTest runs every case of the file through f and compares outputs.
func RunTest(t *testing.T, path string, f func(t *testing.T, d *TestData) string) {
	t.Helper()
	cases, err := parse(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	for i, c := range cases {
		got := f(t, c.TestData)
		if got != "" && !strings.HasSuffix(got, "\n") {
			got += "\n"
		}
		if *rewrite {
			if i > 0 {
				out.WriteString("\n")
			}
			out.WriteString(c.comment)
			out.WriteString(c.rawCmd)
			out.WriteString("----\n")
			out.WriteString(got)
			continue
		}
		if got != c.Expected {
			t.Errorf("%s: %s\nexpected:\n%s\ngot:\n%s", c.Pos, c.rawCmd, c.Expected, got)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type testCase struct {
	*TestData
	rawCmd string
	// comment is the comment lines before the command (kept by -rewrite).
	comment string
}

func parse(path string) ([]testCase, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cases []testCase
	sc := bufio.NewScanner(f)
	line := 0
	var cur *testCase
	inExpected := false
	var exp, comment strings.Builder
	flush := func() {
		if cur != nil {
			cur.Expected = exp.String()
			cases = append(cases, *cur)
		}
		cur = nil
		inExpected = false
		exp.Reset()
	}
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case inExpected:
			if strings.TrimSpace(text) == "" {
				flush()
				continue
			}
			exp.WriteString(text + "\n")
		case cur == nil:
			trimmed := strings.TrimSpace(text)
			if strings.HasPrefix(trimmed, "#") || trimmed == "" && comment.Len() > 0 {
				comment.WriteString(text + "\n") // blank lines inside a comment block too
			}
			if trimmed == "" || strings.HasPrefix(trimmed, "#") {
				continue
			}
			cur = &testCase{TestData: parseCmd(trimmed), rawCmd: text + "\n", comment: comment.String()}
			comment.Reset()
			cur.Pos = fmt.Sprintf("%s:%d", path, line)
		case text == "----":
			inExpected = true
		default:
			cur.Input += text + "\n"
			cur.rawCmd += text + "\n"
		}
	}
	if cur != nil {
		if !inExpected {
			return nil, fmt.Errorf("%s: command without ---- separator", cur.Pos)
		}
		flush()
	}
	return cases, sc.Err()
}

func parseCmd(line string) *TestData {
	fields := strings.Fields(line)
	d := &TestData{Cmd: fields[0]}
	for _, f := range fields[1:] {
		k, v, ok := strings.Cut(f, "=")
		a := Arg{Key: k}
		if ok {
			a.Vals = strings.Split(v, ",")
		}
		d.Args = append(d.Args, a)
	}
	return d
}
