package memory

import "context"

// WaitIndexed blocks until every graph being built in the background has
// been built (and snapshotted), or ctx ends. Searches work meanwhile (on
// the exhaustive code scan); benchmarks and readiness checks use this to
// measure or report the steady state.
func (s *Store) WaitIndexed(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.builds.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
