// Command probe is the e2e tests' in-cluster helper, packed into the image
// goray/e2e-probe:dev by the e2e TestMain. It has no shell around it, so each
// check is a subcommand:
//
//	probe serve ADDR    HTTP server answering "probe <hostname>" (logs a line per request)
//	probe lookup NAME   resolve NAME with the pod's resolv.conf, print the addresses
//	probe get URL       HTTP GET, print the status line and the body
//	probe api PATH      GET PATH from the API server with the pod's service-account
//	                    token and CA (in-cluster config), print the status and body
//	probe status [-token T] URL   HTTP GET (with "Authorization: Bearer T"), print
//	                    "HTTP <code>" and the start of the body; any answer is exit 0
//	probe gcs [-token T] ADDR     call the GCS's GetClusterStatus over gRPC (with the
//	                    token as goray's clients send it), print "gRPC <code>"
//	probe load [-c N] [-d DUR] [-n MAX] [-timeout T] URL   closed-loop HTTP GETs from
//	                    N clients until DUR passed or MAX requests were made; a
//	                    line every 5 s, then "load: result ok=... failed=..." with
//	                    the failures' first and last time and kinds; exit 0 (the
//	                    test judges the figures)
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/goray-dev/goray/runtime/auth"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe serve ADDR | lookup NAME | get URL")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(arg(2, ":8080"))
	case "lookup":
		err = lookup(arg(2, "kubernetes.default.svc.cluster.local"))
	case "get":
		err = get(arg(2, ""))
	case "api":
		err = api(arg(2, "/version"))
	case "status":
		token, target := tokenArg()
		err = status(target, token)
	case "gcs":
		token, target := tokenArg()
		err = gcs(target, token)
	case "load":
		err = load(os.Args[2:])
	case "-h", "--help", "help":
		fmt.Println("probe: e2e helper (serve ADDR | lookup NAME | get URL | api PATH | status [-token T] URL | gcs [-token T] ADDR | load [-c N] [-d DUR] [-n MAX] URL)")
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func arg(i int, def string) string {
	if len(os.Args) > i {
		return os.Args[i]
	}
	return def
}

// tokenArg reads "[-token T] TARGET" after the subcommand.
func tokenArg() (token, target string) {
	if arg(2, "") == "-token" {
		return arg(3, ""), arg(4, "")
	}
	return "", arg(2, "")
}

// status prints the HTTP status of GET url; a refusal is an answer too.
func status(url, token string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	fmt.Printf("HTTP %d\n%s\n", resp.StatusCode, b)
	return nil
}

// gcs calls GetClusterStatus on the GCS at addr and prints the gRPC code;
// the token travels as goray's own clients send it (runtime/auth).
func gcs(addr, token string) error {
	conn, err := grpc.NewClient(addr, auth.NewToken(token).DialOptions()...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := rpcpb.NewGcsClient(conn).GetClusterStatus(ctx, &rpcpb.Empty{})
	code := grpcstatus.Code(err)
	if code == codes.DeadlineExceeded || code == codes.Unavailable {
		return fmt.Errorf("no answer from %s: %w", addr, err)
	}
	fmt.Printf("gRPC %s\n", code)
	if err != nil {
		fmt.Println(grpcstatus.Convert(err).Message())
	} else {
		fmt.Printf("%d nodes\n", len(st.GetNodes()))
	}
	return nil
}

func serve(addr string) error {
	host, _ := os.Hostname()
	srv := &http.Server{Addr: addr, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("probe: %s %s from %s\n", r.Method, r.URL.Path, r.RemoteAddr)
		fmt.Fprintf(w, "probe %s\n", host)
	})}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Printf("probe: serving on %s as %s\n", addr, host)
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func lookup(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupHost(ctx, name)
	if err != nil {
		return err
	}
	fmt.Println(strings.Join(addrs, " "))
	return nil
}

func get(url string) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s\n%s", resp.Status, b)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// api does what a pod's in-cluster client does: KUBERNETES_SERVICE_HOST/PORT,
// the mounted token, and the mounted CA to verify the API server.
func api(path string) error {
	const sa = "/var/run/secrets/kubernetes.io/serviceaccount"
	token, err := os.ReadFile(sa + "/token")
	if err != nil {
		return err
	}
	if len(token) == 0 {
		return fmt.Errorf("empty service-account token")
	}
	ca, err := os.ReadFile(sa + "/ca.crt")
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return fmt.Errorf("no certificate in %s/ca.crt", sa)
	}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequest(http.MethodGet, "https://"+host+path, nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Printf("%s\n%s\n", resp.Status, b)
	return nil
}
