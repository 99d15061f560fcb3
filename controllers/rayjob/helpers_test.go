package rayjob_test

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"
)

func clientMergeFrom(obj client.Object) client.Patch { return client.MergeFrom(obj) }

func sleep(ctx context.Context) {
	select {
	case <-ctx.Done():
	case <-time.After(100 * time.Millisecond):
	}
}
