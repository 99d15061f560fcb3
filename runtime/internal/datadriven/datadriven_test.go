package datadriven

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x")
	_ = os.WriteFile(p, []byte("# comment\n#\n\n# more\necho a=1,2 b\nin\n----\nout\n\nnoop\n----\n"), 0o644)
	cases, err := parse(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) != 2 {
		t.Fatalf("got %d cases", len(cases))
	}
	c := cases[0]
	if v, _ := c.Arg("a"); strings.Join(v, "|") != "1|2" || c.Input != "in\n" || c.Expected != "out\n" {
		t.Fatalf("bad case %+v", c.TestData)
	}
	if c.comment != "# comment\n#\n\n# more\n" {
		t.Fatalf("comment %q not kept for -rewrite", c.comment)
	}
	if _, ok := c.Arg("b"); !ok {
		t.Fatal("bare arg missing")
	}
}
