package testenv

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// Eventually polls cond until it holds or timeout passes, then fails the
// test with what was awaited and the last error. Tests wait on the world
// with it; the timeout is a bound, never a performance assertion.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok && err == nil {
			return
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
}

// MarkPodReady plays the kubelet, which envtest lacks: the pod is Running
// and Ready at the given IP.
func MarkPodReady(ctx context.Context, c client.Client, p *corev1.Pod, ip string) error {
	p.Status.Phase = corev1.PodRunning
	p.Status.PodIP = ip
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now()}}
	return c.Status().Update(ctx, p)
}

// Main is a controller test suite's TestMain: controller logs at error level
// only, run sets the suite up, runs m and tears down; a set-up error is
// printed and fails the binary.
func Main(m *testing.M, run func(*testing.M) (int, error)) {
	MainAtLevel(m, zapcore.ErrorLevel, run)
}

// MainAtLevel is Main with controller logs at level (and above) instead of
// errors only, for a suite that lets its runner ask for more.
func MainAtLevel(m *testing.M, level zapcore.Level, run func(*testing.M) (int, error)) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(level)))
	code, err := run(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(code)
}
