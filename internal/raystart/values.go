package raystart

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/goray-dev/goray/runtime/scheduler"
)

// Error is a rayStartParams entry that `goray start` could not use.
type Error struct {
	Key, Value string
	Reason     string
}

func (e *Error) Error() string {
	return fmt.Sprintf("rayStartParams.%s: %q %s", e.Key, e.Value, e.Reason)
}

// numbers are the flags whose value is a number of goray start: the float
// ones, the integer ones and the ports.
var (
	floatFlags = []string{"num-cpus", "num-gpus"}
	intFlags   = []string{"memory", "object-store-memory"}
	portFlags  = []string{"port", "dashboard-port", "metrics-export-port", "dashboard-agent-listen-port",
		"node-manager-port", "serve-port", "serve-grpc-port"}
)

// Value is the word of key, whether the key is there, and an error naming
// the key when its value is not one shell word.
func Value(params map[string]string, key string) (Word, bool, error) {
	raw, ok := params[key]
	if !ok {
		return Word{}, false, nil
	}
	w, err := Parse(raw)
	if err != nil {
		return Word{}, true, &Error{Key: key, Value: raw, Reason: "is not one shell word: " + err.Error()}
	}
	return w, true, nil
}

// literal is the word of key when its value is known outside the pod.
func literal(params map[string]string, key string) (string, bool, error) {
	w, ok, err := Value(params, key)
	if err != nil || !ok {
		return "", ok, err
	}
	if len(w.Refs()) > 0 {
		return "", true, &Error{Key: key, Value: params[key], Reason: "refers to $" + w.Refs()[0] + ", which is only known inside the pod"}
	}
	return w.String(), true, nil
}

// Number is the non-negative number of key (num-cpus, num-gpus, memory, ...).
func Number(params map[string]string, key string) (float64, bool, error) {
	v, ok, err := literal(params, key)
	if err != nil || !ok {
		return 0, ok, err
	}
	f, perr := strconv.ParseFloat(v, 64)
	if perr != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, true, &Error{Key: key, Value: params[key], Reason: "is not a non-negative number"}
	}
	return f, true, nil
}

// Port is the port number of key, 1 to 65535 (0 where goray start takes it
// as "none" or "any").
func Port(params map[string]string, key string) (int32, bool, error) {
	v, ok, err := literal(params, key)
	if err != nil || !ok {
		return 0, ok, err
	}
	p, perr := strconv.ParseUint(v, 10, 16)
	if perr != nil {
		return 0, true, &Error{Key: key, Value: params[key], Reason: "is not a port number"}
	}
	return int32(p), true, nil
}

// Resources is the JSON object of numbers in resources.
func Resources(params map[string]string) (map[string]float64, bool, error) {
	v, ok, err := literal(params, "resources")
	if err != nil || !ok {
		return nil, ok, err
	}
	var m map[string]float64
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return nil, true, &Error{Key: "resources", Value: params["resources"], Reason: `is not a JSON object of numbers, e.g. '"{\"TPU\": 4}"'`}
	}
	return m, true, nil
}

// Validate finds the first entry (in key order) that `goray start` would
// refuse: a value that is not one shell word, a switch that is not true or
// false, a number, port or resources object that does not parse. Values
// that refer to the container's environment are only checked for their
// shape: what they become is known inside the pod.
func Validate(params map[string]string) error {
	for _, key := range slices.Sorted(maps.Keys(params)) {
		w, _, err := Value(params, key)
		if err != nil {
			return err
		}
		if len(w.Refs()) > 0 {
			continue
		}
		v := w.String()
		switch {
		case slices.Contains(Switches, key):
			if v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
				return &Error{Key: key, Value: params[key], Reason: "is a switch: give true, false or nothing"}
			}
		case slices.Contains(floatFlags, key):
			_, _, err = Number(params, key)
		case slices.Contains(intFlags, key):
			if _, perr := strconv.ParseUint(v, 10, 63); perr != nil {
				err = &Error{Key: key, Value: params[key], Reason: "is not a whole number of bytes"}
			}
		case slices.Contains(portFlags, key):
			_, _, err = Port(params, key)
		case key == "resources":
			_, _, err = Resources(params)
		case key == "labels":
			_, err = Labels(params, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Labels is a node's labels as the pod builder passes them to --labels:
// the group's labels map when it has one, else rayStartParams labels (a
// JSON object or Ray's key=value,...; scheduler.ParseLabels). It fails when
// those are needed and cannot be read here.
func Labels(params, group map[string]string) (map[string]string, error) {
	if len(group) > 0 {
		return maps.Clone(group), nil
	}
	v, ok, err := literal(params, "labels")
	if err != nil || !ok {
		return nil, err
	}
	m, err := scheduler.ParseLabels(v)
	if err != nil {
		return nil, &Error{Key: "labels", Value: params["labels"], Reason: "is not labels: " + err.Error()}
	}
	return m, nil
}

// Custom is the custom resources of a node as KubeRay composes --resources
// (common/pod.go): the group's resources map when it has one, else
// rayStartParams resources; then TPU from the container's google.com/tpu
// limit (tpu > 0) unless already given. Values are as given (the map's
// strings) or as JSON numbers. It fails when rayStartParams resources is
// needed but cannot be read here.
func Custom(params, group map[string]string, tpu int64) (map[string]string, error) {
	out := map[string]string{}
	if len(group) > 0 {
		maps.Copy(out, group)
	} else if res, ok, err := Resources(params); err != nil {
		return nil, err
	} else if ok {
		for k, v := range res {
			out[k] = strconv.FormatFloat(v, 'g', -1, 64)
		}
	}
	if _, ok := out["TPU"]; !ok && tpu > 0 {
		out["TPU"] = strconv.FormatInt(tpu, 10)
	}
	return out, nil
}
