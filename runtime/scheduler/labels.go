package scheduler

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
)

// Selector is Ray's label selector (Ray ≥ 2.49): every key names a node
// label and says what its value must be:
//
//	"v"         the label is v
//	"!v"        the label is not v (or the node has no such label)
//	"in(a,b)"   the label is one of a, b
//	"!in(a,b)"  the label is none of a, b (or the node has no such label)
//
// A task or actor with a selector runs only on a node whose labels match
// every key; when no node does it waits, as an infeasible request does
// (for the autoscaler, or a node that joins).
type Selector map[string]string

// NodeIDLabel is the label every node has: its id (Ray's ray.io/node-id).
const NodeIDLabel = "ray.io/node-id"

// labelKey is a Kubernetes label key: an optional DNS-subdomain prefix and
// a name; labelValue is a Kubernetes label value. Ray's labels follow them.
var (
	labelKey   = regexp.MustCompile(`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$`)
	labelValue = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$`)
)

// ValidLabelKey says whether k may name a label (a Kubernetes label key).
func ValidLabelKey(k string) bool { return len(k) <= 253+1+63 && labelKey.MatchString(k) }

// ValidLabelValue says whether v may be a label's value.
func ValidLabelValue(v string) bool { return labelValue.MatchString(v) }

// term is one key's expression, parsed.
type term struct {
	not    bool
	values []string
}

func parseTerm(expr string) (term, error) {
	var t term
	e := strings.TrimSpace(expr)
	if rest, ok := strings.CutPrefix(e, "!"); ok {
		t.not, e = true, strings.TrimSpace(rest)
	}
	if inner, ok := strings.CutPrefix(e, "in("); ok {
		inner, ok = strings.CutSuffix(inner, ")")
		if !ok {
			return t, fmt.Errorf("%q: in( without its )", expr)
		}
		for _, v := range strings.Split(inner, ",") {
			t.values = append(t.values, strings.TrimSpace(v))
		}
	} else {
		t.values = []string{e}
	}
	for _, v := range t.values {
		if v == "" || !ValidLabelValue(v) {
			return t, fmt.Errorf("%q: %q is not a label value (1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit)", expr, v)
		}
	}
	return t, nil
}

// Validate says what is wrong with s, if anything.
func (s Selector) Validate() error {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !ValidLabelKey(k) {
			return fmt.Errorf("label selector: %q is not a label key", k)
		}
		if _, err := parseTerm(s[k]); err != nil {
			return fmt.Errorf("label selector: key %s: %w", k, err)
		}
	}
	return nil
}

// Matches says whether a node with labels satisfies every key of s. A
// selector that does not validate matches no node.
func (s Selector) Matches(labels map[string]string) bool { return s.compile()(labels) }

// compile parses s once into a test of a node's labels: deciding over many
// nodes (Pick) parses each key's expression once, not once per node.
func (s Selector) compile() func(labels map[string]string) bool {
	if len(s) == 0 {
		return func(map[string]string) bool { return true }
	}
	keys := make([]string, 0, len(s))
	terms := make([]term, 0, len(s))
	for k, expr := range s {
		t, err := parseTerm(expr)
		if err != nil {
			return func(map[string]string) bool { return false }
		}
		keys, terms = append(keys, k), append(terms, t)
	}
	return func(labels map[string]string) bool {
		for i, t := range terms {
			v, has := labels[keys[i]]
			in := has && slices.Contains(t.values, v)
			if in == t.not {
				return false
			}
		}
		return true
	}
}

// String is s in Ray's notation, keys in order.
func (s Selector) String() string {
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + s[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// maxLabelsText bounds the text ParseLabels reads (Kubernetes bounds all
// of an object's labels and annotations at 256 KiB).
const maxLabelsText = 256 << 10

// ParseLabels reads a node's labels as `goray start --labels` takes them:
// a JSON object of strings (what goray's operator writes) or Ray's
// "key1=value1,key2=value2". Keys and values must be Kubernetes label keys
// and values; ray.io/node-id is the node's own.
func ParseLabels(s string) (map[string]string, error) {
	if len(s) > maxLabelsText {
		return nil, fmt.Errorf("labels: %d bytes, more than the %d a node's labels may take", len(s), maxLabelsText)
	}
	out := map[string]string{}
	s = strings.TrimSpace(s)
	switch {
	case s == "":
	case strings.HasPrefix(s, "{"):
		if err := json.Unmarshal([]byte(s), &out); err != nil {
			return nil, fmt.Errorf("labels: a JSON object of strings or key=value,...: %w", err)
		}
	default:
		for _, kv := range strings.Split(s, ",") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("labels: %q is not key=value", kv)
			}
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	for k, v := range out {
		switch {
		case !ValidLabelKey(k):
			return nil, fmt.Errorf("labels: %q is not a label key", k)
		case !ValidLabelValue(v):
			return nil, fmt.Errorf("labels: the value %q of %s is not a label value", v, k)
		case k == NodeIDLabel:
			return nil, fmt.Errorf("labels: %s is the node's own id", NodeIDLabel)
		}
	}
	return out, nil
}
