package desired

import (
	"math"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	rayv1 "github.com/goray-dev/goray/api/v1"
)

func i32(v int32) *int32 { return &v }

func TestGroupReplicas(t *testing.T) {
	tests := []struct {
		name                 string
		replicas, minR, maxR *int32
		suspend              *bool
		want                 int32
	}{
		{name: "all nil", want: 0},
		{name: "replicas only", replicas: i32(3), want: 3},
		{name: "within bounds", replicas: i32(3), minR: i32(1), maxR: i32(5), want: 3},
		{name: "below min", replicas: i32(0), minR: i32(2), maxR: i32(5), want: 2},
		{name: "above max", replicas: i32(9), minR: i32(1), maxR: i32(5), want: 5},
		{name: "nil replicas uses min", minR: i32(2), maxR: i32(5), want: 2},
		{name: "nil max unbounded", replicas: i32(1000), minR: i32(1), want: 1000},
		{name: "max zero", replicas: i32(3), maxR: i32(0), want: 0},
		{name: "min above max", replicas: i32(3), minR: i32(4), maxR: i32(2), want: 4},
		{name: "suspended", replicas: i32(3), minR: i32(1), maxR: i32(5), suspend: ptr.To(true), want: 0},
		{name: "suspend false", replicas: i32(3), suspend: ptr.To(false), want: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := &rayv1.WorkerGroupSpec{Replicas: tt.replicas, MinReplicas: tt.minR, MaxReplicas: tt.maxR, Suspend: tt.suspend}
			if got := GroupReplicas(g); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestHostsPerReplica(t *testing.T) {
	for hosts, want := range map[int32]int32{0: 1, 1: 1, 4: 4, -1: 1} {
		if got := HostsPerReplica(&rayv1.WorkerGroupSpec{NumOfHosts: hosts}); got != want {
			t.Errorf("numOfHosts %d: got %d, want %d", hosts, got, want)
		}
	}
}

func TestCountWorkers(t *testing.T) {
	type grp struct {
		replicas, minR, maxR *int32
		hosts                int32
		suspend              bool
	}
	tests := []struct {
		name   string
		groups []grp
		want   WorkerCounts
	}{
		{"no groups", nil, WorkerCounts{}},
		{"one group", []grp{{replicas: i32(2), minR: i32(1), maxR: i32(5)}}, WorkerCounts{Desired: 2, Min: 1, Max: 5}},
		{"sums groups", []grp{
			{replicas: i32(2), minR: i32(1), maxR: i32(5)},
			{replicas: i32(3), minR: i32(0), maxR: i32(3)},
		}, WorkerCounts{Desired: 5, Min: 1, Max: 8}},
		{"times numOfHosts", []grp{{replicas: i32(2), minR: i32(1), maxR: i32(3), hosts: 4}}, WorkerCounts{Desired: 8, Min: 4, Max: 12}},
		{"clamped replicas", []grp{{replicas: i32(10), minR: i32(1), maxR: i32(3)}}, WorkerCounts{Desired: 3, Min: 1, Max: 3}},
		{"suspended group desires none", []grp{{replicas: i32(2), minR: i32(1), maxR: i32(3), suspend: true}}, WorkerCounts{Desired: 0, Min: 1, Max: 3}},
		{"nil max saturates", []grp{{replicas: i32(1)}}, WorkerCounts{Desired: 1, Max: math.MaxInt32}},
		{"nil max times hosts saturates", []grp{{replicas: i32(1), hosts: 4}}, WorkerCounts{Desired: 4, Max: math.MaxInt32}},
		{"overflow saturates", []grp{
			{replicas: i32(math.MaxInt32), maxR: i32(math.MaxInt32), hosts: 2},
			{replicas: i32(math.MaxInt32), minR: i32(math.MaxInt32), maxR: i32(math.MaxInt32), hosts: 3},
		}, WorkerCounts{Desired: math.MaxInt32, Min: math.MaxInt32, Max: math.MaxInt32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			c.Spec.WorkerGroupSpecs = nil
			for _, g := range tt.groups {
				c.Spec.WorkerGroupSpecs = append(c.Spec.WorkerGroupSpecs, rayv1.WorkerGroupSpec{
					GroupName: "g", Replicas: g.replicas, MinReplicas: g.minR, MaxReplicas: g.maxR, NumOfHosts: g.hosts, Suspend: ptr.To(g.suspend),
				})
			}
			if got := CountWorkers(c); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func rr(limitKV, requestKV []string) corev1.ResourceRequirements {
	return corev1.ResourceRequirements{Limits: limits(limitKV...), Requests: limits(requestKV...)}
}

func TestDesiredResources(t *testing.T) {
	tests := []struct {
		name               string
		head               []corev1.ResourceRequirements
		worker             []corev1.ResourceRequirements
		replicas           int32
		hosts              int32
		suspend            bool
		cpu, mem, gpu, tpu string
	}{
		{name: "nothing set", replicas: 2, cpu: "0", mem: "0", gpu: "0", tpu: "0"},
		{name: "limits times replicas",
			head:     []corev1.ResourceRequirements{rr([]string{"cpu", "1", "memory", "2Gi"}, nil)},
			worker:   []corev1.ResourceRequirements{rr([]string{"cpu", "2", "memory", "1Gi"}, nil)},
			replicas: 3, cpu: "7", mem: "5Gi", gpu: "0", tpu: "0"},
		{name: "requests over limits",
			head:     []corev1.ResourceRequirements{rr([]string{"cpu", "4", "memory", "4Gi"}, []string{"cpu", "1"})},
			worker:   []corev1.ResourceRequirements{rr([]string{"cpu", "8"}, []string{"cpu", "500m", "memory", "1Gi"})},
			replicas: 2, cpu: "2", mem: "6Gi", gpu: "0", tpu: "0"},
		{name: "every container counts",
			head:     []corev1.ResourceRequirements{rr([]string{"cpu", "1"}, nil), rr([]string{"cpu", "250m"}, nil)},
			worker:   []corev1.ResourceRequirements{rr([]string{"cpu", "1"}, nil), rr([]string{"cpu", "250m"}, nil)},
			replicas: 2, cpu: "3750m", mem: "0", gpu: "0", tpu: "0"},
		{name: "gpu and tpu",
			head:     []corev1.ResourceRequirements{rr([]string{"nvidia.com/gpu", "1"}, nil)},
			worker:   []corev1.ResourceRequirements{rr([]string{"nvidia.com/gpu", "2", "amd.com/gpu", "1", "google.com/tpu", "4"}, nil)},
			replicas: 2, cpu: "0", mem: "0", gpu: "7", tpu: "8"},
		{name: "times numOfHosts",
			worker:   []corev1.ResourceRequirements{rr([]string{"google.com/tpu", "4", "cpu", "1"}, nil)},
			replicas: 2, hosts: 4, cpu: "8", mem: "0", gpu: "0", tpu: "32"},
		{name: "suspended group counts only the head",
			head:     []corev1.ResourceRequirements{rr([]string{"cpu", "1"}, nil)},
			worker:   []corev1.ResourceRequirements{rr([]string{"cpu", "2"}, nil)},
			replicas: 3, suspend: true, cpu: "1", mem: "0", gpu: "0", tpu: "0"},
		{name: "other resources ignored",
			worker:   []corev1.ResourceRequirements{rr([]string{"ephemeral-storage", "1Gi", "example.com/fpga", "1"}, nil)},
			replicas: 1, cpu: "0", mem: "0", gpu: "0", tpu: "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCluster()
			mk := func(rs []corev1.ResourceRequirements) []corev1.Container {
				var out []corev1.Container
				for i, r := range rs {
					out = append(out, corev1.Container{Name: string(rune('a' + i)), Resources: r})
				}
				return out
			}
			c.Spec.HeadGroupSpec.Template.Spec.Containers = mk(tt.head)
			g := &c.Spec.WorkerGroupSpecs[0]
			g.Template.Spec.Containers = mk(tt.worker)
			g.Replicas, g.MinReplicas, g.MaxReplicas = i32(tt.replicas), nil, nil
			g.NumOfHosts = tt.hosts
			g.Suspend = ptr.To(tt.suspend)
			before := c.DeepCopy()
			got := DesiredResources(c)
			for _, q := range []struct {
				name string
				got  resource.Quantity
				want string
			}{{"cpu", got.CPU, tt.cpu}, {"memory", got.Memory, tt.mem}, {"gpu", got.GPU, tt.gpu}, {"tpu", got.TPU, tt.tpu}} {
				if q.got.Cmp(resource.MustParse(q.want)) != 0 {
					t.Errorf("%s = %s, want %s", q.name, q.got.String(), q.want)
				}
			}
			// Multiplying must not touch the spec's quantities.
			for i := range before.Spec.WorkerGroupSpecs[0].Template.Spec.Containers {
				b := before.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[i].Resources
				a := c.Spec.WorkerGroupSpecs[0].Template.Spec.Containers[i].Resources
				for name, q := range b.Limits {
					if l := a.Limits[name]; q.Cmp(l) != 0 {
						t.Errorf("spec limit %s changed from %s to %s", name, q.String(), l.String())
					}
				}
			}
		})
	}
}
