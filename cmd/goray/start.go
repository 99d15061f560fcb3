package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/goray-dev/goray/internal/raystart"
	"github.com/goray-dev/goray/runtime/cluster"
	"github.com/goray-dev/goray/runtime/gcs/storage"
	"github.com/goray-dev/goray/runtime/node"
	"github.com/goray-dev/goray/runtime/scheduler"
)

type startFlags struct {
	head                       bool
	address                    string
	port                       int
	nodeIP                     string
	numCPUs, numGPUs           float64
	memory                     int64
	objectStoreMemory          int64
	resources                  string
	labels                     string
	block                      bool
	dashboardHost              string
	dashboardPort, metricsPort int
	agentPort, nodeManagerPort int
	servePort, serveGRPCPort   int
	serveGRPCNote              string // why the gRPC proxy is off (serveGRPCPortFor)
	tempDir                    string
	gcsStoragePath             string
	redisUsername              string
	redisPassword              string
	ignoredStr                 map[string]*string
	ignoredBool                map[string]*bool
}

func tmpRoot(f *startFlags) string {
	if f != nil && f.tempDir != "" {
		return f.tempDir
	}
	if d := os.Getenv("GORAY_TMPDIR"); d != "" {
		return d
	}
	return filepath.Join(os.TempDir(), "goray")
}

func startCmd() *cobra.Command {
	return startCommand(&startFlags{ignoredStr: map[string]*string{}, ignoredBool: map[string]*bool{}})
}

// startCommand is `goray start` parsing its flags into f.
func startCommand(f *startFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start",
		Short: "Start a head node (--head) or a worker node (--address=HEAD:6379) on this machine",
		RunE: func(cmd *cobra.Command, args []string) error {
			for name, v := range f.ignoredStr {
				if cmd.Flags().Changed(name) {
					log.Printf("goray start: ignoring --%s=%s (not used by goray)", name, *v)
				}
			}
			for name := range f.ignoredBool {
				if cmd.Flags().Changed(name) {
					log.Printf("goray start: ignoring --%s (not used by goray)", name)
				}
			}
			for _, a := range os.Args[2:] {
				if name, ok := strings.CutPrefix(a, "--"); ok {
					name, _, _ = strings.Cut(name, "=")
					if cmd.Flags().Lookup(name) == nil {
						log.Printf("goray start: ignoring unknown flag --%s", name)
					}
				}
			}
			if f.head == (f.address != "") {
				return errors.New("give exactly one of --head or --address=HEAD_IP:PORT")
			}
			if err := f.resolveServeGRPCPort(cmd.Flags()); err != nil {
				return err
			}
			if !f.block {
				return daemonize(f)
			}
			return runNode(cmd.Context(), f)
		},
	}
	cmd.FParseErrWhitelist.UnknownFlags = true
	fl := cmd.Flags()
	fl.BoolVar(&f.head, "head", false, "start the head node (GCS, node manager, dashboard)")
	fl.StringVar(&f.address, "address", "", "GCS address HOST:PORT of the head to join")
	fl.IntVar(&f.port, "port", 6379, "GCS port (head)")
	fl.StringVar(&f.nodeIP, "node-ip-address", "", "this node's IP (default: the address used to reach the head, 127.0.0.1 for a head)")
	fl.Float64Var(&f.numCPUs, "num-cpus", float64(runtime.NumCPU()), "CPUs to offer")
	fl.Float64Var(&f.numGPUs, "num-gpus", 0, "GPUs to offer")
	fl.Int64Var(&f.memory, "memory", 0, "memory to offer in bytes (default: the machine's)")
	fl.Int64Var(&f.objectStoreMemory, "object-store-memory", 0, "object store capacity in bytes before spilling to disk (default 30% of memory)")
	fl.StringVar(&f.resources, "resources", "", `custom resources as JSON, e.g. '{"TPU": 4}'`)
	fl.StringVar(&f.labels, "labels", "", `node labels for label selectors: '{"zone": "a"}' or zone=a,disk=ssd`)
	fl.BoolVar(&f.block, "block", false, "run in the foreground until killed")
	fl.StringVar(&f.dashboardHost, "dashboard-host", "127.0.0.1", "dashboard bind host (head)")
	fl.IntVar(&f.dashboardPort, "dashboard-port", 8265, "dashboard HTTP port (head)")
	fl.IntVar(&f.metricsPort, "metrics-export-port", 8080, "Prometheus metrics port (0 disables)")
	fl.IntVar(&f.agentPort, "dashboard-agent-listen-port", 52365, "node agent HTTP port (/api/local_raylet_healthz)")
	fl.IntVar(&f.nodeManagerPort, "node-manager-port", 0, "node manager gRPC port (0 = any)")
	fl.IntVar(&f.servePort, "serve-port", raystart.DefaultServePort, "serve HTTP proxy port on this node (0 disables)")
	fl.IntVar(&f.serveGRPCPort, "serve-grpc-port", raystart.DefaultServeGRPCPort,
		"serve gRPC proxy port on this node (Ray's grpc_options.port; 0 disables; off by default when --serve-port takes it)")
	fl.StringVar(&f.tempDir, "temp-dir", "", "session directory root (default $GORAY_TMPDIR or /tmp/goray)")
	fl.StringVar(&f.gcsStoragePath, "gcs-storage-path", "", "head: keep the GCS's tables in an embedded file store in this directory (default $RAY_gcs_storage_path); with $RAY_REDIS_ADDRESS they go to Redis")
	fl.StringVar(&f.redisUsername, "redis-username", "", "head: Redis user (default $REDIS_USERNAME)")
	fl.StringVar(&f.redisPassword, "redis-password", "", "head: Redis password; prefer $REDIS_PASSWORD, which no process listing shows")
	// The other flags of `ray start` that the operator may pass from
	// rayStartParams are accepted and ignored, with the kind the operator
	// renders them as (raystart: --key=value, or a bare switch).
	for _, n := range raystart.ValueFlags {
		if fl.Lookup(n) == nil {
			f.ignoredStr[n] = fl.String(n, "", "accepted for rayStartParams compatibility; ignored")
		}
	}
	for _, n := range raystart.Switches {
		if fl.Lookup(n) == nil {
			f.ignoredBool[n] = fl.Bool(n, false, "accepted for rayStartParams compatibility; ignored")
		}
	}
	return cmd
}

// serveGRPCPortFor is the port the node's serve gRPC proxy listens on, and
// why it is off when that is not what was asked. The HTTP proxy keeps its
// port: a KubeRay user moves Serve's HTTP port to 9000, the gRPC proxy's
// default (ray-service.different-port.yaml), and means HTTP there, so a
// gRPC port left to its default steps aside (the proxy is off, as in Ray,
// where gRPC runs only when grpc_options asks for it). Asking for both on
// one port (given, not defaulted) is an error.
func serveGRPCPortFor(httpPort, grpcPort int, grpcGiven bool) (int, string, error) {
	if grpcPort <= 0 || httpPort <= 0 || grpcPort != httpPort {
		return grpcPort, "", nil
	}
	if grpcGiven {
		return 0, "", fmt.Errorf("--serve-port and --serve-grpc-port are both %d: give the serve gRPC proxy another port, or --serve-grpc-port=0 for none", grpcPort)
	}
	return 0, fmt.Sprintf("serve gRPC proxy off: --serve-port=%d takes its default port; give --serve-grpc-port=PORT to run it", httpPort), nil
}

// resolveServeGRPCPort settles the gRPC proxy's port after parsing
// (serveGRPCPortFor): whether --serve-grpc-port was given decides.
func (f *startFlags) resolveServeGRPCPort(fl *pflag.FlagSet) error {
	grpc, note, err := serveGRPCPortFor(f.servePort, f.serveGRPCPort, fl.Changed("serve-grpc-port"))
	if err != nil {
		return err
	}
	f.serveGRPCPort, f.serveGRPCNote = grpc, note
	return nil
}

// daemonize re-runs start with --block in the background and waits until it serves.
func daemonize(f *startFlags) error {
	root := tmpRoot(f)
	if err := os.MkdirAll(filepath.Join(root, "logs"), 0o755); err != nil {
		return err
	}
	logPath := filepath.Join(root, "logs", fmt.Sprintf("goray-start-%d.log", time.Now().UnixNano()))
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer lf.Close()
	exe, _ := os.Executable()
	cmd := exec.Command(exe, append(os.Args[1:], "--block")...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	ready := filepath.Join(root, "pids", strconv.Itoa(cmd.Process.Pid)+".ready")
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(60 * time.Second)
	for {
		if _, err := os.Stat(ready); err == nil {
			fmt.Printf("goray node started (pid %d, log %s)\n", cmd.Process.Pid, logPath)
			return nil
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(logPath)
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("node exited during start (%w):\n%s", err, b)
		case <-deadline:
			return fmt.Errorf("node did not become ready within 60s; see %s", logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func machineMemory() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 4 << 30
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 4 << 30
}

// gcsStorage reads the head's storage settings (Ray's and KubeRay's
// variables, then the flags) and takes the Redis password out of the
// environment, so that no worker or job this node starts inherits it.
func gcsStorage(f *startFlags, logger *log.Logger) storage.Config {
	c := storage.ConfigFromEnv()
	if f.gcsStoragePath != "" {
		c.Path = f.gcsStoragePath
	}
	if f.redisUsername != "" {
		c.RedisUsername = f.redisUsername
	}
	if f.redisPassword != "" {
		switch {
		case c.RedisPassword == "":
			logger.Printf("goray start: using --redis-password; it is visible in the process list, set REDIS_PASSWORD instead")
			c.RedisPassword = f.redisPassword
		case c.RedisPassword != f.redisPassword:
			logger.Printf("goray start: --redis-password differs from REDIS_PASSWORD; using REDIS_PASSWORD")
		}
	}
	_ = os.Unsetenv(storage.EnvRedisPassword)
	if t, err := storage.ParseRedisAddress(c.RedisAddress, "", ""); err == nil && t.Password != "" {
		_ = os.Unsetenv(storage.EnvRedisAddress) // it carries a password
	}
	return c
}

func runNode(ctx context.Context, f *startFlags) error {
	sec, err := security()
	if err != nil {
		return fmt.Errorf("goray auth: %w", err)
	}
	gcsStore := gcsStorage(f, log.New(os.Stderr, "[goray] ", log.LstdFlags))
	if !f.head && (f.gcsStoragePath != "" || f.redisPassword != "") {
		log.Printf("goray start: --gcs-storage-path and --redis-password are for the head; ignored on a worker node")
	}
	res := map[string]float64{"CPU": f.numCPUs}
	if f.numGPUs > 0 {
		res["GPU"] = f.numGPUs
	}
	mem := f.memory
	if mem == 0 {
		mem = machineMemory()
	}
	res["memory"] = float64(mem)
	if f.resources != "" {
		var custom map[string]float64
		if err := json.Unmarshal([]byte(f.resources), &custom); err != nil {
			return fmt.Errorf("--resources must be a JSON object of numbers, e.g. '{\"TPU\": 4}': %w", err)
		}
		for k, v := range custom {
			res[k] = v
		}
	}
	labels, err := scheduler.ParseLabels(f.labels)
	if err != nil {
		return fmt.Errorf("--labels: %w", err)
	}
	store := f.objectStoreMemory
	if store == 0 {
		store = mem * 3 / 10
	}
	ip := f.nodeIP
	if ip == "" {
		if f.head {
			ip = "127.0.0.1"
		} else {
			ip = cluster.LocalIPFor(f.address)
		}
	}
	root := tmpRoot(f)
	session := filepath.Join(root, fmt.Sprintf("session-%s-%d", ip, os.Getpid()))
	logOut, closeLog := nodeLogWriter(session) // the log API serves it
	defer closeLog()
	logger := log.New(logOut, "[goray] ", log.LstdFlags)
	timeout := 10 * time.Second
	if v := os.Getenv("GORAY_HEALTH_TIMEOUT"); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			timeout = d
		}
	}
	if f.serveGRPCNote != "" {
		logger.Print(f.serveGRPCNote)
	}
	// Negative ports are off, as 0 (cluster.AnyPort is not for the CLI).
	port := func(p int) int { return max(p, 0) }
	cfg := cluster.Config{Head: f.head, GcsPort: f.port, HeartbeatTimeout: timeout, Storage: gcsStore, Security: sec, TempDir: root,
		Node: node.Config{IP: ip, Port: f.nodeManagerPort, Resources: res, Labels: labels, StoreCapacity: store, Dir: session,
			InstanceID: os.Getenv("RAY_CLOUD_INSTANCE_ID"), NodeTypeName: os.Getenv("RAY_NODE_TYPE_NAME"),
			HeartbeatInterval: timeout / 5, Logger: logger},
		DashboardHost: f.dashboardHost, DashboardPort: port(f.dashboardPort), AgentPort: port(f.agentPort),
		MetricsPort: port(f.metricsPort), ServePort: port(f.servePort), ServeGRPCPort: port(f.serveGRPCPort)}
	if !f.head {
		cfg.GcsAddress = f.address
	}
	c, err := cluster.Start(ctx, cfg)
	if err != nil {
		return err
	}
	gcsAddr, nodeAddr := c.GcsAddress(), c.NodeAddress()
	if f.head {
		writeState(logger, filepath.Join(root, "gcs_address"), []byte(gcsAddr))
	}
	pidDir := filepath.Join(root, "pids")
	pidFile := filepath.Join(pidDir, strconv.Itoa(os.Getpid())+".pid")
	writeState(logger, pidFile, []byte(strconv.Itoa(os.Getpid())))
	writeState(logger, filepath.Join(pidDir, strconv.Itoa(os.Getpid())+".ready"), nil)
	if f.head {
		fmt.Printf("goray head started: GCS %s, dashboard http://%s:%d\nJoin with: goray start --address=%s\n", gcsAddr, f.dashboardHost, f.dashboardPort, gcsAddr)
	} else {
		fmt.Printf("goray node started: node manager %s joined %s\n", nodeAddr, gcsAddr)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case <-sig:
		logger.Printf("stopping")
	case <-c.Done():
		logger.Printf("drained: stopping")
	}
	if wait := serveDrainWait(); wait > 0 && c.DrainServe() {
		// A pod being deleted still gets new connections until every
		// node's kube-proxy has dropped it from the Services: its proxy
		// answers them (and fails /-/healthz) for a while before closing.
		logger.Printf("serve proxy draining for %s", wait)
		time.Sleep(wait)
	}
	// Best-effort teardown: the process exits right after.
	c.Stop()
	_ = os.Remove(pidFile)
	_ = os.Remove(filepath.Join(pidDir, strconv.Itoa(os.Getpid())+".ready"))
	_ = os.RemoveAll(session)
	return nil
}

// writeState writes a file that other goray commands read (the GCS address,
// pid files, the ready marker). A failure is logged: the node itself runs on.
func writeState(logger *log.Logger, path string, b []byte) {
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		err = os.WriteFile(path, b, 0o644)
	}
	if err != nil {
		logger.Printf("writing %s: %v", path, err)
	}
}

// serveDrainWait is how long a stopping node's serve proxy goes on
// answering: $GORAY_SERVE_DRAIN_S seconds when set, else 3 s in a
// Kubernetes pod (where Services take a moment to drop a deleted pod) and
// none elsewhere.
func serveDrainWait() time.Duration {
	if v := os.Getenv("GORAY_SERVE_DRAIN_S"); v != "" {
		if n, err := strconv.ParseFloat(v, 64); err == nil && n >= 0 && n <= 600 {
			return time.Duration(n * float64(time.Second))
		}
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		return 3 * time.Second
	}
	return 0
}
