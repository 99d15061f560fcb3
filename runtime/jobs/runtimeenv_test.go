package jobs

import (
	"strings"
	"testing"
)

func TestRuntimeEnvSetupError(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]any
		want []string // substrings; none: no error
	}{
		{name: "none"},
		{name: "go fields only", env: map[string]any{"working_dir": "gcs://x.zip", "env_vars": map[string]any{"A": "1"}}},
		{name: "empty pip", env: map[string]any{"pip": []any{}, "conda": nil, "container": map[string]any{}}},
		{name: "pip", env: map[string]any{"pip": []any{"requests==2.26.0"}}, want: []string{"runtime_env.pip (Python packages)", "Remove pip"}},
		{name: "several, in order", env: map[string]any{"py_modules": []any{"m"}, "conda": "env.yaml", "image_uri": "img"},
			want: []string{"runtime_env.conda", "runtime_env.image_uri", "runtime_env.py_modules", "Remove conda, image_uri, py_modules", "goray runs Go programs"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runtimeEnvSetupError(tc.env)
			if len(tc.want) == 0 {
				if got != "" {
					t.Fatalf("got %q, want none", got)
				}
				return
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Fatalf("%q lacks %q", got, w)
				}
			}
		})
	}
}
