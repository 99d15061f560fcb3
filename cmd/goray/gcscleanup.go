package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray/runtime/gcs/storage"
)

// gcsCleanupCmd is what the operator's Redis cleanup Job runs after a
// RayCluster with gcsFaultToleranceOptions is deleted:
//
//	goray gcs-cleanup --redis-address=$(RAY_REDIS_ADDRESS) --namespace=$(RAY_external_storage_namespace)
//
// with REDIS_PASSWORD and REDIS_USERNAME in its environment. It deletes
// every key of the namespace (RAY<namespace>@…) and exits 0, or exits 1
// saying what failed.
func gcsCleanupCmd() *cobra.Command {
	var addr, ns, user string
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "gcs-cleanup",
		Short: "Delete a cluster's GCS state (its storage namespace) from Redis",
		Long: "Deletes every Redis key of the namespace (RAY<namespace>@...): the GCS tables a fault-tolerant head kept there.\n" +
			"The password comes from $REDIS_PASSWORD only (or the address's URL), never a flag.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c := storage.ConfigFromEnv()
			if v := unexpanded(addr); v != "" {
				c.RedisAddress = v
			}
			if v := unexpanded(ns); v != "" {
				c.Namespace = v
			}
			if v := unexpanded(user); v != "" {
				c.RedisUsername = v
			}
			if c.RedisAddress == "" {
				return errors.New("gcs-cleanup: no Redis address: pass --redis-address or set RAY_REDIS_ADDRESS")
			}
			if c.Namespace == "" {
				return errors.New("gcs-cleanup: no storage namespace: pass --namespace or set RAY_external_storage_namespace " +
					"(refusing to delete the shared default namespace without it being named)")
			}
			t, err := storage.ParseRedisAddress(c.RedisAddress, c.RedisUsername, c.RedisPassword)
			if err != nil {
				return fmt.Errorf("gcs-cleanup: %w", err)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			n, err := storage.DeleteRedisNamespace(ctx, c)
			if err != nil {
				return fmt.Errorf("gcs-cleanup: deleting namespace %q from %s: %w", c.Namespace, t, err)
			}
			fmt.Fprintf(os.Stdout, "gcs-cleanup: deleted %d keys of namespace %q from %s\n", n, c.Namespace, t)
			return nil
		},
	}
	cmd.Flags().StringVar(&addr, "redis-address", "", "Redis address: host:port, redis:// or rediss:// (default $RAY_REDIS_ADDRESS)")
	cmd.Flags().StringVar(&ns, "namespace", "", "storage namespace to delete (default $RAY_external_storage_namespace)")
	cmd.Flags().StringVar(&user, "redis-username", "", "Redis user (default $REDIS_USERNAME)")
	cmd.Flags().DurationVar(&timeout, "timeout", 2*time.Minute, "give up after this long (waiting for Redis included)")
	return cmd
}

// unexpanded treats a Kubernetes $(VAR) reference that was left as it is
// (the variable is not set) as not given.
func unexpanded(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "$(") && strings.HasSuffix(v, ")") {
		return ""
	}
	return v
}
