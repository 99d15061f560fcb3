package raystart

import (
	"maps"
	"slices"
	"strings"
)

// Switches are the flags of `ray start` (and `goray start`) that take no
// value. KubeRay renders "true" as the bare flag and leaves "false" out; an
// empty value means the switch too.
var Switches = []string{"head", "block", "disable-usage-stats", "no-monitor", "verbose",
	"enable-object-reconstruction", "enable-resource-isolation", "no-redirect-output"}

// ValueFlags are the flags of `goray start` that take a value (its own and
// the `ray start` flags it accepts and ignores): whatever their value, even
// "true", "false" or "", it is passed as --key=value, so a value never turns
// into a bare flag that would take the next argument as its value.
var ValueFlags = []string{
	// read by goray start
	"address", "port", "node-ip-address", "num-cpus", "num-gpus", "memory", "object-store-memory",
	"resources", "labels", "dashboard-host", "dashboard-port", "metrics-export-port",
	"dashboard-agent-listen-port", "node-manager-port", "serve-port", "serve-grpc-port", "temp-dir", "gcs-storage-path",
	"redis-username", "redis-password",
	// accepted and ignored by goray start; include-dashboard and log-color
	// are the two that KubeRay also passes as --key=true|false
	"object-manager-port", "dashboard-agent-grpc-port", "include-dashboard", "log-color", "log-style",
	"min-worker-port", "max-worker-port", "runtime-env-agent-port", "ray-client-server-port",
	"autoscaling-config", "storage", "system-config", "plasma-directory", "object-spilling-directory",
	"worker-port-list", "gcs-server-port", "dashboard-grpc-port", "num-redis-shards",
	"redis-shard-ports", "node-name", "session-name", "runtime-env-agent-host",
}

// Arg is the `goray start` argument for one rayStartParams entry, and false
// when there is none (a switch that is "false"). The rules are KubeRay's
// (common/pod.go convertParamMap): "true" is the bare switch, "false" leaves
// it out, anything else is --key=value; goray knows which of its flags take
// a value and passes theirs as --key=value always. A value that does not
// parse (validation refuses it first) is passed as it stands.
func Arg(key, raw string) (string, bool) {
	w, err := Parse(raw)
	if err != nil {
		w = Literal(raw)
	}
	v := w.String()
	if slices.Contains(ValueFlags, key) {
		return "--" + key + "=" + w.Arg(), true
	}
	switch {
	case strings.EqualFold(v, "true") || v == "" && slices.Contains(Switches, key):
		return "--" + key, true
	case strings.EqualFold(v, "false"):
		return "", false
	}
	return "--" + key + "=" + w.Arg(), true
}

// Args renders params as `goray start` arguments, sorted by key.
func Args(params map[string]string) []string {
	out := make([]string, 0, len(params))
	for _, k := range slices.Sorted(maps.Keys(params)) {
		if a, ok := Arg(k, params[k]); ok {
			out = append(out, a)
		}
	}
	return out
}
