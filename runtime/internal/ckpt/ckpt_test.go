package ckpt

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitLoadClear(t *testing.T) {
	dir := t.TempDir()
	for i := range 3 {
		staged, err := NewStaging(dir, "w")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(staged, "state"), []byte{byte(i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		ck, err := Commit(staged, dir, i, map[string]float64{"i": float64(i)})
		if err != nil || ck.Path != Dir(dir, i) {
			t.Fatalf("commit %d: %v, %v", i, ck, err)
		}
		if _, err := os.Stat(staged); !os.IsNotExist(err) {
			t.Fatal("the staging directory is still there after its commit")
		}
	}
	left, _ := NewStaging(dir, "dead")
	cks, err := Load(dir)
	if err != nil || len(cks) != 3 || cks[2].Metrics["i"] != 2 || cks[0].Index != 0 {
		t.Fatalf("loaded %v, %v", cks, err)
	}
	if b, _ := os.ReadFile(filepath.Join(cks[1].Path, "state")); len(b) != 1 || b[0] != 1 {
		t.Fatal("checkpoint 1's content")
	}
	if err := ClearStaging(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatal("ClearStaging left a staging directory")
	}
	if cks, _ := Load(filepath.Join(dir, "none")); cks != nil {
		t.Fatal("a missing directory has checkpoints")
	}
}
