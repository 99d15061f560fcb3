package raystart

import (
	"slices"
	"testing"
)

func TestArgs(t *testing.T) {
	got := Args(map[string]string{
		"block":                     "",     // a switch: bare
		"disable-usage-stats":       "True", // KubeRay: "true" is the bare switch
		"no-monitor":                "false",
		"enable-resource-isolation": "true", // unknown to goray, a switch in ray start
		"some-ray-flag":             "FALSE",
		"include-dashboard":         "false", // KubeRay passes these two as values
		"log-color":                 "true",
		"node-name":                 "", // a value flag: an empty value, not the next argument
		"dashboard-host":            "true",
		"resources":                 `"{\"resource1\": 2}"`,
		"redis-password":            "$REDIS_PASSWORD",
		"temp-dir":                  `'/tmp/$x'`,
		"future-flag":               "",
	})
	want := []string{"--block", "--dashboard-host=true", "--disable-usage-stats", "--enable-resource-isolation",
		"--future-flag=", "--include-dashboard=false", "--log-color=true", "--node-name=",
		"--redis-password=$(REDIS_PASSWORD)", `--resources={"resource1": 2}`, "--temp-dir=/tmp/$$x"}
	if !slices.Equal(got, want) {
		t.Errorf("Args:\n got %q\nwant %q", got, want)
	}
}

// TestArgKeepsAnUnparsableValueInOneWord: validation refuses such a value
// first; the pod builder still never splits it.
func TestArgKeepsAnUnparsableValueInOneWord(t *testing.T) {
	if a, ok := Arg("num-cpus", "1 --block"); !ok || a != "--num-cpus=1 --block" {
		t.Errorf("Arg = %q, %v", a, ok)
	}
	if a, ok := Arg("x", "$(id -u)"); !ok || a != "--x=$$(id -u)" {
		t.Errorf("Arg = %q, %v", a, ok)
	}
}
