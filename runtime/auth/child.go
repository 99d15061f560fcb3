package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// TokenFileName is the file in a session directory that hands the token to
// the processes a node or a job manager starts.
const TokenFileName = "auth_token"

// WriteTokenFile writes the token into dir (0600, the directory 0700) for
// ChildEnv, and returns its path ("" without a token).
func (c Config) WriteTokenFile(dir string) (string, error) {
	if c.Token == "" {
		return "", nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	p := filepath.Join(dir, TokenFileName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.Token+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write the auth token file: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return "", fmt.Errorf("write the auth token file: %w", err)
	}
	return p, nil
}

// ChildEnv is env for a process this one starts (a worker, a job's
// entrypoint): the token never travels in the environment — where child
// processes, crash reports and `ps e` see it — but by tokenFile (from
// WriteTokenFile), the runtime's own path; RAY_AUTH_MODE says whether the
// cluster checks it.
func (c Config) ChildEnv(env []string, tokenFile string) []string {
	out := make([]string, 0, len(env)+2)
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case EnvToken, EnvTokenPath, EnvMode:
			continue
		}
		out = append(out, kv)
	}
	if tokenFile != "" && c.Token != "" {
		out = append(out, EnvTokenPath+"="+tokenFile)
	}
	if c.Required {
		out = append(out, EnvMode+"="+ModeToken)
	} else if c.Token != "" {
		out = append(out, EnvMode+"="+ModeDisabled)
	}
	return out
}
