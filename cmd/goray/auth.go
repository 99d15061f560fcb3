package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	"github.com/goray-dev/goray/runtime/cluster"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
)

// security is this process's credentials, from Ray's variables.
var security = auth.Process

// dialGCS connects the CLI to a GCS with this process's credentials.
func dialGCS(addr string) (*grpc.ClientConn, error) {
	sec, err := security()
	if err != nil {
		return nil, err
	}
	return cluster.Dial(addr, sec)
}

// httpTransport sends the CLI's HTTP requests with its token (and TLS).
func httpTransport() (http.RoundTripper, error) {
	sec, err := security()
	if err != nil {
		return nil, err
	}
	return sec.Transport(nil), nil
}

// dashboardTarget is the dashboard a command talks to — its --address
// (flag), else the environment's ($RAY_DASHBOARD_ADDRESS, $RAY_ADDRESS when
// it is an http URL, else the local head) — as a URL, and the HTTP client
// that carries the CLI's credentials (token, TLS).
func dashboardTarget(flag string) (string, *http.Client, error) {
	a := flag
	if a == "" {
		a = jobclient.AddressFromEnv()
	}
	rt, err := httpTransport()
	if err != nil {
		return "", nil, err
	}
	return dashboardURL(a), &http.Client{Transport: rt}, nil
}

// dashboardURL is addr with https:// when the CLI runs with TLS and addr
// names no scheme: a TLS cluster's dashboard speaks only HTTPS.
func dashboardURL(addr string) string {
	sec, err := security()
	switch {
	case err != nil || sec.TLS == nil:
		return addr
	case !strings.Contains(addr, "://"):
		return "https://" + addr
	case addr == jobclient.DefaultAddress: // the CLI's default, not the user's choice
		return "https://" + strings.TrimPrefix(addr, "http://")
	}
	return addr
}

// explainGCS turns a refused call into what to do about it.
func explainGCS(addr string, err error) error {
	if status.Code(err) == codes.Unauthenticated {
		return fmt.Errorf("the goray cluster at %s refused the call: %s", addr, status.Convert(err).Message())
	}
	return fmt.Errorf("no goray cluster answers at %s (start one with 'goray start --head' or pass --address): %w", addr, err)
}

// getAuthTokenCmd is Ray's `ray get-auth-token [--generate]`.
func getAuthTokenCmd() *cobra.Command {
	var generate bool
	cmd := &cobra.Command{
		Use:   "get-auth-token",
		Short: "Print the auth token this machine uses (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token); --generate makes one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			sec, err := auth.FromEnv()
			if err != nil {
				return err
			}
			if sec.Token != "" {
				fmt.Fprintln(cmd.OutOrStdout(), sec.Token)
				return nil
			}
			if !generate {
				return errors.New("no auth token found: set RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH, or run 'goray get-auth-token --generate' to write ~/.ray/auth_token")
			}
			home, err := os.UserHomeDir()
			if err != nil {
				return err
			}
			b := make([]byte, 32)
			if _, err := rand.Read(b); err != nil {
				return err
			}
			tok := hex.EncodeToString(b)
			p := filepath.Join(home, ".ray", "auth_token")
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(p, []byte(tok+"\n"), 0o600); err != nil {
				return err
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "wrote", p)
			fmt.Fprintln(cmd.OutOrStdout(), tok)
			return nil
		},
	}
	cmd.Flags().BoolVar(&generate, "generate", false, "generate a token into ~/.ray/auth_token when none is found")
	return cmd
}
