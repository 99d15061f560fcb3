package actors

import (
	"strings"
	"testing"
)

func TestValidateConcurrencyGroups(t *testing.T) {
	if err := ValidateConcurrencyGroups(map[string]int32{"io": 2, "compute": 10000}); err != nil {
		t.Fatal(err)
	}
	if err := ValidateConcurrencyGroups(nil); err != nil {
		t.Fatal(err)
	}
	many := map[string]int32{}
	for i := range MaxConcurrencyGroups + 1 {
		many[strings.Repeat("g", i+1)] = 1
	}
	for name, g := range map[string]map[string]int32{
		"zero": {"io": 0}, "negative": {"io": -1}, "huge": {"io": maxGroupConcurrency + 1}, "no name": {"": 1},
		"NUL": {"a\x00": 1}, "long name": {strings.Repeat("n", maxGroupNameBytes+1): 1}, "too many": many,
	} {
		if err := ValidateConcurrencyGroups(g); err == nil || !strings.Contains(err.Error(), "concurrency_groups") {
			t.Errorf("%s: %v", name, err)
		}
	}
}
