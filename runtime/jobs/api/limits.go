package api

import (
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/goray-dev/goray/runtime/internal/workerenv"
)

// The limits of a job submission (docs/compatibility.md, "Job and serve API
// limits"). Ray sets none; goray refuses a request over any of them with a
// 400 naming the field and the limit, so that no stored record can grow past
// what the GCS and the dashboard read back in one message, no entrypoint
// fails to start with E2BIG, and no reservation waits for a machine that
// cannot exist. Lengths are in bytes.
const (
	// MaxRequestBytes bounds the body of POST /api/jobs/ (larger: 413). The
	// largest valid request, every field at its limit and written with JSON
	// escapes, is about 1.1 MiB (TestLargestValidRequestFits).
	MaxRequestBytes = 2 << 20
	// MaxEntrypointBytes bounds the entrypoint, half of Linux's 128 KiB
	// limit on one argument.
	MaxEntrypointBytes = 64 << 10
	// MaxSubmissionIDBytes bounds submission_id (and the deprecated job_id),
	// whose characters are SubmissionIDChars: the id names the job's log
	// file and working directory.
	MaxSubmissionIDBytes = 128
	// MaxMetadataEntries, MaxMetadataKeyBytes, MaxMetadataValueBytes and
	// MaxMetadataBytes (keys plus values) bound metadata.
	MaxMetadataEntries    = 128
	MaxMetadataKeyBytes   = 256
	MaxMetadataValueBytes = 16 << 10
	MaxMetadataBytes      = 64 << 10
	// MaxRuntimeEnvBytes bounds runtime_env as a whole, as JSON.
	MaxRuntimeEnvBytes = 256 << 10
	// MaxEnvVars and MaxEnvVarNameBytes bound runtime_env.env_vars (the
	// values are bounded by MaxRuntimeEnvBytes).
	MaxEnvVars         = workerenv.MaxEnvVars
	MaxEnvVarNameBytes = workerenv.MaxEnvVarNameBytes
	// MaxEntrypointResources and MaxResourceNameBytes bound
	// entrypoint_resources.
	MaxEntrypointResources = 64
	MaxResourceNameBytes   = 128
	// MaxResourceQuantity bounds entrypoint_num_cpus, entrypoint_num_gpus
	// and each entrypoint_resources value: the entrypoint's reservation is
	// one bundle on one node, and no node has a million CPUs.
	MaxResourceQuantity = 1e6
	// MaxEntrypointMemory bounds entrypoint_memory (1 PiB).
	MaxEntrypointMemory = 1 << 50
)

// The limits of a working_dir package. Packages move in chunks end to end
// (the CLI's upload, the dashboard into the GCS, the GCS to the unpacking
// supervisor), so these bound the disk a package takes, not memory.
const (
	// MaxPackageBytes bounds a package's zip as uploaded (PUT
	// /api/packages/...; larger: 413) or fetched from a URI: Ray's 500 MiB.
	MaxPackageBytes = 500 << 20
	// MaxUnpackedBytes bounds the files a package unpacks to, whatever its
	// zip headers claim, so a small zip cannot fill the head's disk.
	MaxUnpackedBytes = 2 << 30
	// MaxPackageEntries bounds the number of entries in a package's zip.
	MaxPackageEntries = 100_000
)

// SubmissionIDChars are the characters a submission_id may hold.
const SubmissionIDChars = "A-Za-z0-9._-"

// Clip shortens a user's string for a message or a log line: at most n
// bytes of it, quoted (so control characters and newlines stay on one line),
// with its full length when it was cut.
func Clip(s string, n int) string {
	if len(s) <= n {
		return fmt.Sprintf("%q", s)
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q... (%d bytes)", s[:cut], len(s))
}

// ValidSubmissionID checks a submission id: 1 to MaxSubmissionIDBytes of
// SubmissionIDChars, and not "." or "..".
func ValidSubmissionID(id string) error {
	if id == "" {
		return fmt.Errorf("submission_id must not be empty")
	}
	if len(id) > MaxSubmissionIDBytes {
		return fmt.Errorf("submission_id is %d bytes, more than the limit of %d", len(id), MaxSubmissionIDBytes)
	}
	for i := 0; i < len(id); i++ {
		if !idChar(id[i]) {
			return fmt.Errorf("submission_id %s may only hold the characters [%s] (byte %d is %q)", Clip(id, 64), SubmissionIDChars, i, id[i])
		}
	}
	if id == "." || id == ".." {
		return fmt.Errorf("submission_id may not be %q", id)
	}
	return nil
}

func idChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// validQuantity checks a resource amount: finite, >= 0, <= MaxResourceQuantity.
func validQuantity(field string, v float64) error {
	if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
		return fmt.Errorf("%s must be a non-negative number, got %v", field, v)
	}
	if v > MaxResourceQuantity {
		return fmt.Errorf("%s is %v, more than the limit of %g", field, v, float64(MaxResourceQuantity))
	}
	return nil
}

// validResourceName checks an entrypoint_resources name.
func validResourceName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("entrypoint_resources: a resource name is empty")
	case len(name) > MaxResourceNameBytes:
		return fmt.Errorf("entrypoint_resources: the resource name %s is longer than the limit of %d bytes", Clip(name, 64), MaxResourceNameBytes)
	case hasControl(name):
		return fmt.Errorf("entrypoint_resources: the resource name %s holds control characters", Clip(name, 64))
	}
	return nil
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// ValidEnvVarName checks an environment variable name (workerenv's rules).
func ValidEnvVarName(name string) error { return workerenv.ValidEnvVarName(name) }

// ValidateRuntimeEnv checks a runtime_env: its JSON size, env_vars (a dict
// of strings to strings with valid names, no NUL in values, at most
// MaxEnvVars of them) and working_dir (a string URI). Other keys are kept
// as they are (goray ignores what it does not use, as before).
func ValidateRuntimeEnv(env map[string]any) error {
	if env == nil {
		return nil
	}
	b, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("runtime_env is not JSON: %w", err)
	}
	if len(b) > MaxRuntimeEnvBytes {
		return fmt.Errorf("runtime_env is %d bytes as JSON, more than the limit of %d", len(b), MaxRuntimeEnvBytes)
	}
	vars, err := EnvVars(env)
	if err != nil {
		return err
	}
	if len(vars) > MaxEnvVars {
		return fmt.Errorf("runtime_env.env_vars has %d variables, more than the limit of %d", len(vars), MaxEnvVars)
	}
	for _, k := range sortedKeys(vars) {
		if err := ValidEnvVarName(k); err != nil {
			return err
		}
		if strings.Contains(vars[k], "\x00") {
			return fmt.Errorf("runtime_env.env_vars[%s]: the value contains NUL", Clip(k, 64))
		}
	}
	if wd, ok := env["working_dir"]; ok && wd != nil {
		if _, isStr := wd.(string); !isStr {
			return fmt.Errorf("runtime_env.working_dir must be a string URI, got %T", wd)
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// validateMetadata checks metadata against its limits.
func validateMetadata(meta map[string]string) error {
	if len(meta) > MaxMetadataEntries {
		return fmt.Errorf("metadata has %d entries, more than the limit of %d", len(meta), MaxMetadataEntries)
	}
	total := 0
	for _, k := range sortedKeys(meta) {
		v := meta[k]
		if len(k) > MaxMetadataKeyBytes {
			return fmt.Errorf("metadata: the key %s is longer than the limit of %d bytes", Clip(k, 64), MaxMetadataKeyBytes)
		}
		if len(v) > MaxMetadataValueBytes {
			return fmt.Errorf("metadata[%s]: the value is %d bytes, more than the limit of %d", Clip(k, 64), len(v), MaxMetadataValueBytes)
		}
		total += len(k) + len(v)
	}
	if total > MaxMetadataBytes {
		return fmt.Errorf("metadata is %d bytes (keys plus values), more than the limit of %d", total, MaxMetadataBytes)
	}
	return nil
}
