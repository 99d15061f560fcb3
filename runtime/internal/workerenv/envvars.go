package workerenv

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Environment variables a runtime_env asks for (Ray's runtime_env
// env_vars): the job supervisor sets a job's for its driver, a node sets a
// task's or actor's for the worker it starts for it (workers are pooled by
// their variables: a worker serves only leases asking for exactly its
// own). This file is the one home of the rules they follow.

const (
	// MaxEnvVars and MaxEnvVarNameBytes bound a runtime_env's env_vars.
	MaxEnvVars         = 1024
	MaxEnvVarNameBytes = 256
	// MaxEnvVarsBytes bounds a task's or actor's env_vars, names and
	// values together: they travel with every lease request.
	MaxEnvVarsBytes = 64 << 10
	// RuntimeEnvVars holds, in a worker started for env_vars, those
	// variables (JSON): the tasks and actors it submits inherit them, as
	// Ray's children inherit their parent's runtime_env.
	RuntimeEnvVars = "GORAY_RUNTIME_ENV_VARS"
)

// ValidEnvVarName checks an environment variable name: not empty, no '='
// (the name would end there and set another variable) and no NUL (which
// ends the string handed to the kernel).
func ValidEnvVarName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("runtime_env.env_vars: a variable name is empty")
	case len(name) > MaxEnvVarNameBytes:
		return fmt.Errorf("runtime_env.env_vars: the name %s is longer than the limit of %d bytes", clip(name), MaxEnvVarNameBytes)
	case strings.Contains(name, "="):
		return fmt.Errorf("runtime_env.env_vars: the name %s contains '=', which environment variable names cannot", clip(name))
	case strings.Contains(name, "\x00"):
		return fmt.Errorf("runtime_env.env_vars: the name %s contains NUL", clip(name))
	}
	return nil
}

// ValidateTaskEnvVars checks the env_vars of a task or actor: valid names,
// no NUL in values, at most MaxEnvVars of them and MaxEnvVarsBytes in all,
// and none of goray's own GORAY_ variables (the contract between a node
// and its workers).
func ValidateTaskEnvVars(vars map[string]string) error {
	if len(vars) == 0 {
		return nil // every call without env_vars: nothing to sort
	}
	if len(vars) > MaxEnvVars {
		return fmt.Errorf("runtime_env.env_vars has %d variables, more than the limit of %d", len(vars), MaxEnvVars)
	}
	total := 0
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if err := ValidEnvVarName(k); err != nil {
			return err
		}
		if strings.HasPrefix(k, "GORAY_") {
			return fmt.Errorf("runtime_env.env_vars: %s is goray's own (GORAY_ variables tell a worker where it runs)", clip(k))
		}
		if strings.Contains(vars[k], "\x00") {
			return fmt.Errorf("runtime_env.env_vars[%s]: the value contains NUL", clip(k))
		}
		total += len(k) + len(vars[k])
	}
	if total > MaxEnvVarsBytes {
		return fmt.Errorf("runtime_env.env_vars are %d bytes, more than the limit of %d", total, MaxEnvVarsBytes)
	}
	return nil
}

// EnvVarsKey is a canonical form of vars ("" for none): equal sets of
// variables have equal keys.
func EnvVarsKey(vars map[string]string) string {
	if len(vars) == 0 {
		return ""
	}
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(vars[k])
		b.WriteByte(0)
	}
	return b.String()
}

// EnvVarsEntries is vars as NAME=value entries for exec.Cmd.Env, sorted,
// followed by RuntimeEnvVars holding them all.
func EnvVarsEntries(vars map[string]string) []string {
	if len(vars) == 0 {
		return nil
	}
	out := make([]string, 0, len(vars)+1)
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		out = append(out, k+"="+vars[k])
	}
	return append(out, InheritedEnvVarsEntry(vars))
}

// InheritableEnvVars is the part of a job's runtime_env variables its
// tasks and actors inherit: all but goray's own GORAY_ ones; nil when
// they break a task's limits (the driver still has them).
func InheritableEnvVars(vars map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range vars {
		if !strings.HasPrefix(k, "GORAY_") {
			out[k] = v
		}
	}
	if len(out) == 0 || ValidateTaskEnvVars(out) != nil {
		return nil
	}
	return out
}

// InheritedEnvVarsEntry is the RuntimeEnvVars entry that passes vars on to
// what a process submits ("" for none).
func InheritedEnvVarsEntry(vars map[string]string) string {
	if len(vars) == 0 {
		return ""
	}
	j, _ := json.Marshal(vars)
	return RuntimeEnvVars + "=" + string(j)
}

// InheritedEnvVars is what this process was started with for its
// runtime_env: a worker's, or a job driver's (nil when there is none, or it
// is unreadable).
func InheritedEnvVars(getenv func(string) string) map[string]string {
	raw := getenv(RuntimeEnvVars)
	if raw == "" || len(raw) > 2*MaxEnvVarsBytes {
		return nil
	}
	var vars map[string]string
	if json.Unmarshal([]byte(raw), &vars) != nil || ValidateTaskEnvVars(vars) != nil {
		return nil
	}
	return vars
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
