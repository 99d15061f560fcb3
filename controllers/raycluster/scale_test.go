package raycluster

import "testing"

func TestScaleGroup(t *testing.T) {
	for _, tc := range []struct {
		name                          string
		replicas, ghosts, hosts, want int
		mayRemove                     bool
		create, remove                int
	}{
		{name: "empty group", want: 3, hosts: 1, mayRemove: true, create: 3},
		{name: "ghosts count toward creation", replicas: 1, ghosts: 2, hosts: 1, want: 3, mayRemove: true},
		{name: "multi-host ghosts round up", replicas: 0, ghosts: 3, hosts: 2, want: 2, mayRemove: true},
		{name: "scale down", replicas: 5, hosts: 1, want: 2, mayRemove: true, remove: 3},
		{name: "the autoscaler picks", replicas: 5, hosts: 1, want: 2},
		// One host of a new two-host replica is in the cache, the other is not
		// yet: that is one replica, not two.
		{name: "half-seen multi-host replica", replicas: 1, ghosts: 1, hosts: 2, want: 1, mayRemove: true},
		{name: "no scale-down while ghosts remain", replicas: 3, ghosts: 1, hosts: 1, want: 2, mayRemove: true},
		{name: "steady", replicas: 2, hosts: 4, want: 2, mayRemove: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			create, remove := scaleGroup(tc.replicas, tc.ghosts, tc.hosts, tc.want, tc.mayRemove)
			if create != tc.create || remove != tc.remove {
				t.Errorf("scaleGroup(%d, %d, %d, %d, %v) = create %d, remove %d; want %d, %d",
					tc.replicas, tc.ghosts, tc.hosts, tc.want, tc.mayRemove, create, remove, tc.create, tc.remove)
			}
		})
	}
}
