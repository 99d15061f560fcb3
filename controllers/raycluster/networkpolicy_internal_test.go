package raycluster

import (
	"errors"
	"testing"
)

func TestOperatorNamespace(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == "POD_NAMESPACE" {
				return v
			}
			return ""
		}
	}
	file := func(content string, err error) func(string) ([]byte, error) {
		return func(path string) ([]byte, error) {
			if path != serviceAccountNamespaceFile {
				t.Errorf("read %s", path)
			}
			return []byte(content), err
		}
	}
	missing := file("", errors.New("no such file"))
	for _, tt := range []struct {
		name     string
		getenv   func(string) string
		readFile func(string) ([]byte, error)
		want     string
	}{
		{"env wins", env("ray-system"), file("other\n", nil), "ray-system"},
		{"service account namespace", env(""), file("goray-system\n", nil), "goray-system"},
		{"outside a cluster", env(" "), missing, ""},
	} {
		if got := operatorNamespace(tt.getenv, tt.readFile); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
}
