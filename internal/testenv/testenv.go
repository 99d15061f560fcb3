// Package testenv starts a real kube-apiserver and etcd (controller-runtime's
// envtest) with goray's CRDs installed, for the controller and admission
// tests. The binaries come from hack/control-plane.sh through
// KUBEBUILDER_ASSETS, which `make test` sets; a test run without them fails
// with a message saying how to get them instead of silently skipping.
package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/goray-dev/goray/internal/operator"
)

// Env is a running control plane with goray's CRDs.
type Env struct {
	Config *rest.Config
	Client client.Client
	Scheme *k8sruntime.Scheme
	env    *envtest.Environment
}

// RepoRoot is the folder holding go.mod, found from this source file.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Start launches etcd and kube-apiserver and installs the CRDs from
// config/crd/bases. Call Stop when done.
func Start() (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		return nil, fmt.Errorf("KUBEBUILDER_ASSETS is not set: run the tests with `make test`, or build the control plane with hack/control-plane.sh and export KUBEBUILDER_ASSETS=<the folder it prints>")
	}
	for _, bin := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("KUBEBUILDER_ASSETS=%s has no %s: build it with hack/control-plane.sh", assets, bin)
		}
	}
	scheme := operator.NewScheme()
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{Scheme: scheme},
	}
	// The Workload API (scheduling.k8s.io/v1beta1 Workload and PodGroup,
	// pods' spec.schedulingGroup) for the gang-scheduling tests: a beta API
	// off by default in Kubernetes 1.37. The suites that do not use it see
	// one more API group and nothing else.
	env.ControlPlane.GetAPIServer().Configure().
		Append("runtime-config", "scheduling.k8s.io/v1beta1=true").
		Append("feature-gates", "GenericWorkload=true")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest control plane: %w", err)
	}
	// Controllers under test create many objects quickly.
	cfg.QPS, cfg.Burst = 500, 1000
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Config: cfg, Client: c, Scheme: scheme, env: env}, nil
}

// Stop shuts the control plane down.
func (e *Env) Stop() error { return e.env.Stop() }

// Namespace creates a fresh namespace whose name starts with prefix.
func (e *Env) Namespace(ctx context.Context, prefix string) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if err := e.Client.Create(ctx, ns); err != nil {
		return "", err
	}
	return ns.Name, nil
}
