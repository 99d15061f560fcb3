package workerenv

import (
	"fmt"
	"strings"
	"testing"
)

func TestValidateTaskEnvVars(t *testing.T) {
	if err := ValidateTaskEnvVars(map[string]string{"A": "1", "PATH_EXTRA": "/x", "EMPTY": ""}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateTaskEnvVars(nil); err != nil {
		t.Fatal(err)
	}
	many := map[string]string{}
	for i := range MaxEnvVars + 1 {
		many[fmt.Sprintf("V%d", i)] = "1"
	}
	big := map[string]string{"BIG": strings.Repeat("v", MaxEnvVarsBytes)}
	for name, vars := range map[string]map[string]string{
		"empty name": {"": "x"}, "equals": {"A=B": "x"}, "NUL name": {"A\x00": "x"}, "NUL value": {"A": "x\x00"},
		"goray's own": {"GORAY_WORKER": "1"}, "long name": {strings.Repeat("N", MaxEnvVarNameBytes+1): "x"}, "too big": big,
	} {
		if err := ValidateTaskEnvVars(vars); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := ValidateTaskEnvVars(many); err == nil {
		t.Error("more than MaxEnvVars accepted")
	}
}

func TestEnvVarsKeyAndInheritance(t *testing.T) {
	a := map[string]string{"B": "2", "A": "1"}
	b := map[string]string{"A": "1", "B": "2"}
	if EnvVarsKey(a) != EnvVarsKey(b) || EnvVarsKey(a) == EnvVarsKey(map[string]string{"A": "1", "B": "3"}) || EnvVarsKey(nil) != "" {
		t.Fatal("EnvVarsKey is not canonical")
	}
	// "A=1\x00" and "A" = "1\x00..." cannot collide: values hold no NUL.
	entries := EnvVarsEntries(a)
	if len(entries) != 3 || entries[0] != "A=1" || entries[1] != "B=2" || !strings.HasPrefix(entries[2], RuntimeEnvVars+"=") {
		t.Fatalf("entries %q", entries)
	}
	env := varsMap(entries)
	got := InheritedEnvVars(func(k string) string { return env[k] })
	if EnvVarsKey(got) != EnvVarsKey(a) {
		t.Fatalf("inherited %v, want %v", got, a)
	}
	for _, raw := range []string{"", "{", `{"GORAY_X":"1"}`, `{"A":1}`, strings.Repeat("x", 3*MaxEnvVarsBytes)} {
		if v := InheritedEnvVars(func(string) string { return raw }); v != nil {
			t.Errorf("inherited %v from %q", v, raw)
		}
	}
	job := map[string]string{"GORAY_ADDRESS": "x", "TOKEN": "t"}
	if got := InheritableEnvVars(job); len(got) != 1 || got["TOKEN"] != "t" {
		t.Fatalf("inheritable part of a job's variables: %v", got)
	}
	if InheritedEnvVarsEntry(nil) != "" || InheritableEnvVars(map[string]string{"GORAY_A": "1"}) != nil {
		t.Fatal("entries for no variables")
	}
}

// varsMap reads NAME=value entries into a map (the last wins).
func varsMap(entries []string) map[string]string {
	m := map[string]string{}
	for _, e := range entries {
		if k, v, ok := strings.Cut(e, "="); ok {
			m[k] = v
		}
	}
	return m
}
