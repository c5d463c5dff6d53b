package memory

import (
	"context"
	"time"
)

// WaitIndexed blocks until no graph is being built in the background (at
// Open without a usable snapshot, or rebuilding after mass deletes) and
// the snapshot of each finished build is written, or ctx ends. Searches
// work meanwhile (on the code scan or the old graph); benchmarks and
// readiness checks use this to measure or report the steady state.
func (s *Store) WaitIndexed(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.indexing() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// indexing reports whether any group is being built in the background.
func (s *Store) indexing() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, parts := range s.spaces {
		for _, gr := range parts {
			if gr.building {
				return true
			}
		}
	}
	return false
}
