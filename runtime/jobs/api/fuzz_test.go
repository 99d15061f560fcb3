package api

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// FuzzRuntimeEnv decodes a runtime_env (a JSON object) and validates it.
// Properties: no panic; the outcome (and its message) depends only on the
// input; an accepted runtime_env is within MaxRuntimeEnvBytes, its env_vars
// are strings with valid names and no NUL, at most MaxEnvVars of them, and
// EnvVars reads them without error; it survives a JSON round trip unchanged
// and accepted.
func FuzzRuntimeEnv(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"env_vars":{"A":"1","B_2":"two words"}}`,
		`{"env_vars":{"A=B":"x"}}`,
		`{"env_vars":{"":"x"}}`,
		`{"env_vars":{"A":"x\u0000y"}}`,
		`{"env_vars":{"A":1}}`,
		`{"env_vars":["A"]}`,
		`{"env_vars":null}`,
		`{"working_dir":"gcs://_goray_pkg_00.zip"}`,
		`{"working_dir":3}`,
		`{"pip":["requests==2.0"],"conda":{"dependencies":["x"]},"py_modules":[]}`,
		`{"env_vars":{"\u00e9t\u00e9":"\ud83d\ude00"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return // the limits at sizes beyond are the unit tests'; small inputs minimize fast
		}
		var env map[string]any
		if json.Unmarshal(data, &env) != nil {
			return
		}
		err := ValidateRuntimeEnv(env)
		if err2 := ValidateRuntimeEnv(env); (err == nil) != (err2 == nil) || err != nil && err.Error() != err2.Error() {
			t.Fatalf("not deterministic: %v / %v", err, err2)
		}
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Fatalf("a %d-byte message: %.200s", len(err.Error()), err)
			}
			return
		}
		b, err := json.Marshal(env)
		if err != nil || len(b) > MaxRuntimeEnvBytes {
			t.Fatalf("runtime_env of %d bytes accepted (%v)", len(b), err)
		}
		vars, err := EnvVars(env)
		if err != nil {
			t.Fatalf("accepted, but EnvVars: %v", err)
		}
		if len(vars) > MaxEnvVars {
			t.Fatalf("%d env_vars accepted", len(vars))
		}
		for k, v := range vars {
			if k == "" || len(k) > MaxEnvVarNameBytes || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
				t.Fatalf("env var %q=%q accepted", k, v)
			}
		}
		if wd, ok := env["working_dir"]; ok && wd != nil {
			if _, isStr := wd.(string); !isStr {
				t.Fatalf("working_dir %T accepted", wd)
			}
		}
		var back map[string]any
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(env, back) {
			t.Fatalf("round trip changed it:\n%v\n%v", env, back)
		}
		if err := ValidateRuntimeEnv(back); err != nil {
			t.Fatalf("refused after a round trip: %v", err)
		}
	})
}
