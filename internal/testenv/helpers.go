package testenv

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
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
