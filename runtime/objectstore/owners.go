package objectstore

// Objects are indexed by their owner: the process (a driver or a worker,
// named by its core worker address) whose reference counts decide when an
// object is freed. Once that process is gone nothing would ever free its
// objects, so the node manager frees them all at once with DeleteOwned when
// it sees the owner exit or die.

func (s *Store) indexLocked(id, owner string) {
	if owner == "" {
		return
	}
	m := s.owned[owner]
	if m == nil {
		m = map[string]struct{}{}
		s.owned[owner] = m
	}
	m[id] = struct{}{}
}

func (s *Store) unindexLocked(id, owner string) {
	if m := s.owned[owner]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(s.owned, owner)
		}
	}
}

// DeleteOwned frees every object owned by the process at owner, in memory
// or spilled (their spill files are removed), and returns how many objects
// and bytes that was. An object being read stays readable until its reader
// is done.
func (s *Store) DeleteOwned(owner string) (objects int, bytes int64) {
	if owner == "" {
		return 0, 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.owned[owner] {
		bytes += s.deleteLocked(id)
		objects++
	}
	return objects, bytes
}

// OwnerOf returns the owner of a stored object ("" when unknown or not stored).
func (s *Store) OwnerOf(id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if o := s.objs[id]; o != nil {
		return o.owner
	}
	return ""
}

// Owners returns, for every owner with objects in the store, one of its
// object ids: the node manager asks the owner whether it still owns that
// object to learn whether the owner still runs. Copies are not asked
// about: a copy can outlive the owner's reference for a while (its free
// comes from the node it was pulled from), and an owner that answers "not
// mine" is taken for another process at the address, whose objects all go.
func (s *Store) Owners() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.owned))
	for owner, ids := range s.owned {
		for id := range ids {
			if o := s.objs[id]; o != nil && !o.copy {
				out[owner] = id
				break
			}
		}
	}
	return out
}
