package auth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func lookup(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromLookup(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "tok")
	if err := os.WriteFile(file, []byte("  from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(dir, "home")
	if err := os.MkdirAll(filepath.Join(home, ".ray"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".ray", "auth_token"), []byte("from-home"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		env      map[string]string
		token    string
		required bool
		err      string
	}{
		{name: "nothing", env: map[string]string{}},
		{name: "token mode, env token", env: map[string]string{EnvMode: "token", EnvToken: "abc"}, token: "abc", required: true},
		{name: "env token beats the file", env: map[string]string{EnvMode: "token", EnvToken: "abc", EnvTokenPath: file}, token: "abc", required: true},
		{name: "token file", env: map[string]string{EnvMode: "TOKEN", EnvTokenPath: file}, token: "from-file", required: true},
		{name: "default file", env: map[string]string{EnvMode: "token", "HOME": home}, token: "from-home", required: true},
		{name: "a token alone turns checks on", env: map[string]string{EnvToken: "abc"}, token: "abc", required: true},
		{name: "the default file alone is only sent", env: map[string]string{"HOME": home}, token: "from-home"},
		{name: "disabled keeps sending", env: map[string]string{EnvMode: "disabled", EnvToken: "abc"}, token: "abc"},
		{name: "token mode without a token", env: map[string]string{EnvMode: "token", "HOME": dir}, err: "no token found"},
		{name: "unreadable file is fatal", env: map[string]string{EnvMode: "token", EnvTokenPath: filepath.Join(dir, "nope")}, err: EnvTokenPath},
		{name: "empty file is fatal", env: map[string]string{EnvTokenPath: empty}, err: "empty"},
		{name: "unknown mode", env: map[string]string{EnvMode: "k8s"}, err: "use \"token\""},
		{name: "token with a space", env: map[string]string{EnvToken: "a b"}, err: "printable ASCII"},
		{name: "huge token", env: map[string]string{EnvToken: strings.Repeat("x", MaxTokenLen+1)}, err: "longer than"},
		{name: "TLS half set", env: map[string]string{EnvUseTLS: "1", EnvCACert: file}, err: EnvServerCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := FromLookup(lookup(tc.env))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Token != tc.token || c.Required != tc.required {
				t.Fatalf("got token %q required %v, want %q %v", c.Token, c.Required, tc.token, tc.required)
			}
		})
	}
}

func TestValid(t *testing.T) {
	c := NewToken("secret")
	for in, want := range map[string]bool{"secret": true, "secreT": false, "": false, "secret\x00": false, strings.Repeat("s", MaxTokenLen+1): false} {
		if got := c.Valid(in); got != want {
			t.Errorf("Valid(%.20q) = %v, want %v", in, got, want)
		}
	}
	if (Config{}).Valid("") {
		t.Error("a Config without a token accepts the empty token")
	}
}

func TestChildEnv(t *testing.T) {
	c := NewToken("secret")
	env := c.ChildEnv([]string{"PATH=/bin", EnvToken + "=secret", EnvTokenPath + "=/old", EnvMode + "=token", "RAY_AUTH_TOKENX=keep"}, "/s/auth_token")
	got := strings.Join(env, " ")
	want := "PATH=/bin RAY_AUTH_TOKENX=keep " + EnvTokenPath + "=/s/auth_token " + EnvMode + "=token"
	if got != want {
		t.Fatalf("ChildEnv = %s\nwant %s", got, want)
	}
	if env := (Config{}).ChildEnv([]string{"A=1", EnvToken + "=x"}, ""); strings.Join(env, " ") != "A=1" {
		t.Fatalf("without auth: %v", env)
	}
}

func TestWriteTokenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	p, err := NewToken("secret").WriteTokenFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", fi.Mode().Perm())
	}
	c, err := FromLookup(lookup(map[string]string{EnvTokenPath: p}))
	if err != nil || c.Token != "secret" {
		t.Fatalf("read back %q, %v", c.Token, err)
	}
	if p, err := (Config{}).WriteTokenFile(dir + "2"); p != "" || err != nil {
		t.Fatalf("without a token: %q %v", p, err)
	}
}
