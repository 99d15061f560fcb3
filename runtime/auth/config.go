// Package auth is the one home of who may talk to a goray cluster: Ray's
// token mode (RAY_AUTH_MODE=token with the token from RAY_AUTH_TOKEN,
// RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token) and Ray's mutual TLS
// (RAY_USE_TLS with RAY_TLS_SERVER_CERT, RAY_TLS_SERVER_KEY,
// RAY_TLS_CA_CERT). Every gRPC server and client, every HTTP API and the
// serve hop take their checks and credentials from a Config: the servers
// check, the clients send, and a process hands its children the token by
// file, never in their environment.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Ray's environment variables, read by FromEnv.
const (
	EnvMode      = "RAY_AUTH_MODE"
	EnvToken     = "RAY_AUTH_TOKEN"
	EnvTokenPath = "RAY_AUTH_TOKEN_PATH"
)

// Modes of RAY_AUTH_MODE.
const (
	ModeDisabled = "disabled"
	ModeToken    = "token"
)

// MaxTokenLen bounds a token (file or header): a token is a short secret,
// and a header far longer than any token is refused before it is hashed.
const MaxTokenLen = 4096

// Config is a process's credentials: what its servers require and what its
// clients send. The zero Config is auth off, without TLS.
type Config struct {
	// Token is the shared secret. When Required, servers refuse calls
	// without it; clients send it whenever it is set.
	Token string
	// Required makes servers check the token (RAY_AUTH_MODE=token).
	Required bool
	// TLS, when set, makes gRPC mutual TLS and the HTTP APIs HTTPS.
	TLS *TLS
}

// NewToken is a Config that requires and sends token.
func NewToken(token string) Config { return Config{Token: token, Required: token != ""} }

// FromEnv reads Ray's variables from the process environment.
func FromEnv() (Config, error) { return FromLookup(os.Getenv) }

// Process is this process's credentials: FromEnv, read once. A worker's
// SDK, its serve replica, handles and router all share it (one token file
// read, one set of TLS files watched) instead of each reading the
// environment again.
var Process = sync.OnceValues(FromEnv)

// FromLookup reads Ray's variables through getenv.
//
// RAY_AUTH_MODE=token requires a token: RAY_AUTH_TOKEN, else the file at
// RAY_AUTH_TOKEN_PATH (unreadable or empty is an error, as in Ray), else
// ~/.ray/auth_token. A token given by RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH
// without a mode turns token mode on too: a process given a secret checks
// it (goray's choice; Ray would ignore it). RAY_AUTH_MODE=disabled turns
// the check off, but a token found is still sent by clients.
func FromLookup(getenv func(string) string) (Config, error) {
	mode := strings.ToLower(strings.TrimSpace(getenv(EnvMode)))
	switch mode {
	case "", ModeDisabled, ModeToken:
	default:
		return Config{}, fmt.Errorf("%s=%q: use %q or %q", EnvMode, mode, ModeToken, ModeDisabled)
	}
	token, explicit, err := findToken(getenv, mode == ModeToken)
	if err != nil {
		return Config{}, err
	}
	if mode == ModeToken && token == "" {
		return Config{}, fmt.Errorf("%s=token but no token found: set %s, or %s to a file holding it, or write it to ~/.ray/auth_token",
			EnvMode, EnvToken, EnvTokenPath)
	}
	c := NewToken(token)
	c.Required = mode == ModeToken || (mode == "" && explicit)
	tls, err := tlsFromLookup(getenv)
	if err != nil {
		return Config{}, err
	}
	c.TLS = tls
	return c, nil
}

// findToken returns the token and whether it came from a variable (not the
// default file).
func findToken(getenv func(string) string, tokenMode bool) (string, bool, error) {
	if t := strings.TrimSpace(getenv(EnvToken)); t != "" {
		return t, true, checkToken(t, EnvToken)
	}
	if p := getenv(EnvTokenPath); p != "" {
		t, err := readTokenFile(p)
		if err != nil {
			return "", false, fmt.Errorf("%s=%s: %w", EnvTokenPath, p, err)
		}
		return t, true, nil
	}
	home := getenv("HOME")
	if home == "" {
		return "", false, nil
	}
	p := filepath.Join(home, ".ray", "auth_token")
	t, err := readTokenFile(p)
	switch {
	case err == nil:
		return t, false, nil
	case errors.Is(err, os.ErrNotExist):
		return "", false, nil
	case tokenMode:
		return "", false, fmt.Errorf("%s: %w", p, err)
	default:
		return "", false, nil
	}
}

func readTokenFile(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, MaxTokenLen+1)
	n, _ := f.Read(b)
	if n > MaxTokenLen {
		return "", fmt.Errorf("longer than %d bytes: not a token file", MaxTokenLen)
	}
	t := strings.TrimSpace(string(b[:n]))
	if t == "" {
		return "", errors.New("the token file is empty")
	}
	return t, checkToken(t, p)
}

func checkToken(t, from string) error {
	if len(t) > MaxTokenLen {
		return fmt.Errorf("%s: the token is longer than %d bytes", from, MaxTokenLen)
	}
	for _, r := range t {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("%s: the token may hold only printable ASCII without spaces", from)
		}
	}
	return nil
}

// Valid reports whether presented is the token, in constant time: both are
// hashed first, so not even the token's length shows in the time taken.
func (c Config) Valid(presented string) bool {
	if c.Token == "" || len(presented) > MaxTokenLen {
		return false
	}
	want, got := sha256.Sum256([]byte(c.Token)), sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}

// bearer returns the token of an "Authorization: Bearer <token>" value.
func bearer(v string) (string, bool) {
	const p = "bearer "
	if len(v) < len(p) || !strings.EqualFold(v[:len(p)], p) {
		return "", false
	}
	return strings.TrimSpace(v[len(p):]), true
}

// Messages of a refusal: they say how to pass a token.
const (
	missingMsg = "this goray cluster requires its auth token (RAY_AUTH_MODE=token): send it as \"Authorization: Bearer <token>\" " +
		"(or \"x-ray-authorization: Bearer <token>\"); goray's CLI and SDK send it when RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH is set"
	wrongMsg = "the auth token does not match this goray cluster's: check RAY_AUTH_TOKEN / RAY_AUTH_TOKEN_PATH " +
		"(on Kubernetes the cluster's token is the auth_token key of its Secret)"
)
