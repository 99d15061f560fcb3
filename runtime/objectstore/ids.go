package objectstore

// IDs lists the stored objects (in memory or spilled). A node manager that
// finds itself in a new cluster (its GCS restarted without storage) deletes
// them all: every owner was a process of the old cluster.
func (s *Store) IDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.objs))
	for id := range s.objs {
		out = append(out, id)
	}
	return out
}
