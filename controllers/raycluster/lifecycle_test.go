package raycluster_test

import (
	"context"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func TestDeletedOrFailedWorkerIsReplaced(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newCluster("replace", "rp", workerGroup("g", 2, 0, 5))); err != nil {
		t.Fatal(err)
	}
	ws := waitForCounts(t, ctx, "replace", "rp", 2)

	if err := k8s.Delete(ctx, &ws[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a replacement for the deleted worker", func() (bool, error) {
		got, err := workers(ctx, "replace", "rp")
		return len(got) == 2 && !slices.Contains(names(got), ws[0].Name), err
	})

	failed := ws[1].DeepCopy()
	failed.Status.Phase = corev1.PodFailed
	if err := k8s.Status().Update(ctx, failed); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the failed worker replaced", func() (bool, error) {
		got, err := workers(ctx, "replace", "rp")
		return len(got) == 2 && !slices.Contains(names(got), ws[1].Name), err
	})
}

func TestSuspendAndResume(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newCluster("suspend", "su", workerGroup("g", 2, 0, 5))); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "suspend", "su", 2)

	if err := patchCluster(ctx, "suspend", "su", func(c *rayv1.RayCluster) { c.Spec.Suspend = ptr.To(true) }); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every pod deleted and the cluster Suspended", func() (bool, error) {
		ps, err := pods(ctx, "suspend", "su")
		if err != nil {
			return false, err
		}
		c, err := getCluster(ctx, "suspend", "su")
		if err != nil {
			return false, err
		}
		return len(ps) == 0 && c.Status.State == rayv1.Suspended &&
			meta.IsStatusConditionTrue(c.Status.Conditions, string(rayv1.RayClusterSuspended)) &&
			!meta.IsStatusConditionTrue(c.Status.Conditions, string(rayv1.RayClusterSuspending)), nil
	})

	if err := patchCluster(ctx, "suspend", "su", func(c *rayv1.RayCluster) { c.Spec.Suspend = ptr.To(false) }); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "suspend", "su", 2)
	eventually(t, "Suspended cleared on resume", func() (bool, error) {
		c, err := getCluster(ctx, "suspend", "su")
		if err != nil {
			return false, err
		}
		return c.Status.State != rayv1.Suspended && meta.IsStatusConditionFalse(c.Status.Conditions, string(rayv1.RayClusterSuspended)), nil
	})
}

func TestRecreateOnSpecChange(t *testing.T) {
	ctx := context.Background()
	c := newCluster("recreate", "rc", workerGroup("g", 2, 0, 5))
	c.Spec.UpgradeStrategy = &rayv1.RayClusterUpgradeStrategy{Type: ptr.To(rayv1.RayClusterRecreate)}
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "recreate", "rc", 2)
	before, _ := pods(ctx, "recreate", "rc")

	// A replica change alone recreates nothing.
	if err := patchCluster(ctx, "recreate", "rc", func(c *rayv1.RayCluster) { c.Spec.WorkerGroupSpecs[0].Replicas = ptr.To[int32](3) }); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "recreate", "rc", 3)
	mid, _ := pods(ctx, "recreate", "rc")
	for _, p := range before {
		if !slices.Contains(names(mid), p.Name) {
			t.Fatalf("a replica change recreated pod %s", p.Name)
		}
	}

	if err := patchCluster(ctx, "recreate", "rc", func(c *rayv1.RayCluster) {
		c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[0].Image = "goray/goray:v2"
	}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "every pod recreated with the new template", func() (bool, error) {
		ps, err := pods(ctx, "recreate", "rc")
		if err != nil || len(ps) != 4 {
			return false, err
		}
		for _, p := range ps {
			if slices.Contains(names(mid), p.Name) {
				return false, nil
			}
			if p.Labels[rayv1.RayNodeTypeLabelKey] == "worker" && p.Spec.Containers[0].Image != "goray/goray:v2" {
				return false, nil
			}
		}
		return true, nil
	})
}

func TestStatusFollowsPodReadiness(t *testing.T) {
	ctx := context.Background()
	if err := k8s.Create(ctx, newCluster("status", "st", workerGroup("g", 2, 0, 5))); err != nil {
		t.Fatal(err)
	}
	waitForCounts(t, ctx, "status", "st", 2)
	eventually(t, "HeadPodReady false while the head is pending", func() (bool, error) {
		c, err := getCluster(ctx, "status", "st")
		if err != nil {
			return false, err
		}
		return meta.IsStatusConditionFalse(c.Status.Conditions, string(rayv1.HeadPodReady)) &&
			meta.IsStatusConditionFalse(c.Status.Conditions, string(rayv1.RayClusterProvisioned)), nil
	})

	all, _ := pods(ctx, "status", "st")
	if err := markRunning(ctx, all); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready status and conditions", func() (bool, error) {
		c, err := getCluster(ctx, "status", "st")
		if err != nil {
			return false, err
		}
		st := c.Status
		return st.State == rayv1.Ready && st.ReadyWorkerReplicas == 2 && st.AvailableWorkerReplicas == 2 &&
			st.Head.PodIP != "" && st.Head.ServiceIP == st.Head.PodIP && st.Endpoints["dashboard"] == "8265" &&
			meta.IsStatusConditionTrue(st.Conditions, string(rayv1.HeadPodReady)) &&
			meta.IsStatusConditionTrue(st.Conditions, string(rayv1.RayClusterProvisioned)), nil
	})

	// A worker losing readiness lowers the count; Provisioned stays latched.
	ws, _ := workers(ctx, "status", "st")
	notReady := ws[0].DeepCopy()
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	if err := k8s.Status().Update(ctx, notReady); err != nil {
		t.Fatal(err)
	}
	eventually(t, "one worker not ready", func() (bool, error) {
		c, err := getCluster(ctx, "status", "st")
		if err != nil {
			return false, err
		}
		return c.Status.ReadyWorkerReplicas == 1 && c.Status.AvailableWorkerReplicas == 2 &&
			meta.IsStatusConditionTrue(c.Status.Conditions, string(rayv1.RayClusterProvisioned)), nil
	})
}

func TestInvalidSpecIsReportedNotRetried(t *testing.T) {
	ctx := context.Background()
	c := newCluster("invalid", "bad", workerGroup("g", 1, 0, 5))
	c.Spec.WorkerGroupSpecs[0].RayStartParams["num-cpus"] = "lots"
	if err := k8s.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ReplicaFailure InvalidSpec naming the field", func() (bool, error) {
		got, err := getCluster(ctx, "invalid", "bad")
		if err != nil {
			return false, err
		}
		cond := meta.FindStatusCondition(got.Status.Conditions, string(rayv1.RayClusterReplicaFailure))
		return cond != nil && cond.Reason == rayv1.InvalidSpec &&
			cond.Message == `spec.workerGroupSpecs[0].rayStartParams.num-cpus: "lots" is not a non-negative number`, nil
	})
	ps, err := pods(ctx, "invalid", "bad")
	if err != nil || len(ps) != 0 {
		t.Fatalf("pods were created from an invalid spec: %d %v", len(ps), err)
	}
	got, _ := getCluster(ctx, "invalid", "bad")
	rv := got.ResourceVersion
	consistently(t, "no status churn (no hot loop)", 1500e6, func() (bool, error) {
		again, err := getCluster(ctx, "invalid", "bad")
		return err == nil && again.ResourceVersion == rv, err
	})
}
