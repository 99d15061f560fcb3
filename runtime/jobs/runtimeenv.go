package jobs

import (
	"fmt"
	"sort"
	"strings"
)

// unsupportedRuntimeEnv are the runtime_env fields of Ray that set up a
// Python (or container) environment. goray runs Go programs: a job's
// dependencies are in its executable or its working_dir, so there is
// nothing to install — and a job that needed them must not SUCCEED
// without them, as it did while they were ignored.
var unsupportedRuntimeEnv = map[string]string{
	"pip":           "Python packages",
	"uv":            "Python packages",
	"conda":         "a conda environment",
	"py_modules":    "Python modules",
	"py_executable": "a Python interpreter",
	"container":     "a container image",
	"image_uri":     "a container image",
}

// runtimeEnvSetupError says why a runtime_env cannot be set up, or "" when
// it can: the unsupported fields it sets (a null or empty value sets none).
func runtimeEnvSetupError(env map[string]any) string {
	var keys []string
	for k := range env {
		if _, ok := unsupportedRuntimeEnv[k]; ok && !emptyValue(env[k]) {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return ""
	}
	sort.Strings(keys)
	var what []string
	for _, k := range keys {
		what = append(what, fmt.Sprintf("runtime_env.%s (%s)", k, unsupportedRuntimeEnv[k]))
	}
	return fmt.Sprintf("Failed to set up the runtime environment: %s cannot be set up: goray runs Go programs, whose "+
		"dependencies are built into the executable (ship it, and any files it needs, with working_dir). Remove %s from "+
		"the runtime_env.", strings.Join(what, ", "), strings.Join(keys, ", "))
}

func emptyValue(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case string:
		return x == ""
	case []any:
		return len(x) == 0
	case map[string]any:
		return len(x) == 0
	}
	return false
}
