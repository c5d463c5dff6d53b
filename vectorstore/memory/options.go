package memory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// Defaults for the zero values of Options: the usual HNSW settings for
// text embeddings.
const (
	DefaultM                = 16
	DefaultEfConstruction   = 160
	DefaultEfSearch         = 192
	DefaultExactThreshold   = 4096
	DefaultJanitorInterval  = time.Minute
	DefaultSnapshotInterval = 5 * time.Minute
)

// Options configures Open. The zero value of every field but Dimension
// selects its default.
type Options struct {
	// Dir is the directory holding the database; "" keeps everything in
	// memory only (nothing survives Close).
	Dir string
	// Dimension is the length of every vector (required).
	Dimension int

	// M is the HNSW degree: each node keeps up to M links per upper layer
	// and 2*M on the bottom layer. Higher M raises recall and memory.
	M int
	// EfConstruction is the beam width used while inserting; higher
	// builds a better graph, more slowly.
	EfConstruction int
	// EfSearch is the beam width of a graph search (raised to K when
	// smaller); its candidates are re-ranked exactly. It trades latency
	// for recall. The default, 192, is the smallest beam whose recall@1
	// on the 1M scale benchmark's 4,000 tuning queries has a 95% lower
	// bound of at least 0.99 (160: 0.9923 [0.9890, 0.9945]; 192: 0.9935
	// [0.9905, 0.9956]); see README.md#measured.
	EfSearch int
	// ExactThreshold is the size up to which a (namespace, partition)
	// group is searched exhaustively (exact); a larger group gets an HNSW
	// graph, dropped again when it shrinks below half. Negative means 0:
	// index every group (useful in tests).
	ExactThreshold int

	// JanitorInterval is how often expired records are purged (searches
	// that meet expired records also wake the janitor).
	JanitorInterval time.Duration
	// SnapshotInterval is how often, at most, a snapshot of a changed
	// store is written (also after 16,384 changes or a quarter of the
	// records, whichever is more, if that comes first),
	// so that a restart replays little of the change log. Only used with
	// Dir.
	SnapshotInterval time.Duration
	// Seed seeds HNSW level generation (0 picks a fixed seed, so builds
	// are reproducible).
	Seed uint64
	// LoadInBackground makes Open return before the persisted records are
	// loaded (only with Dir): Search fails with vectorstore.ErrUnavailable
	// and writes and Count wait until Ready. A service opens its store
	// this way so that its listeners, health check included, are up at
	// once while readiness reports the load.
	LoadInBackground bool
	// Logger receives background errors (janitor, snapshots); nil means
	// slog.Default().
	Logger *slog.Logger

	// beforeLoad, when set (tests), runs at the start of the load with the
	// load's context.
	beforeLoad func(context.Context)
}

// withDefaults validates o and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Dimension < 1 || o.Dimension > 1<<16 {
		errs = append(errs, fmt.Errorf("Dimension %d out of range [1, 65536]", o.Dimension))
	}
	if o.M != 0 && (o.M < 2 || o.M > 128) {
		errs = append(errs, fmt.Errorf("M %d out of range [2, 128]", o.M))
	}
	if o.EfConstruction < 0 {
		errs = append(errs, fmt.Errorf("EfConstruction %d is negative", o.EfConstruction))
	}
	if o.EfSearch < 0 {
		errs = append(errs, fmt.Errorf("EfSearch %d is negative", o.EfSearch))
	}
	if o.JanitorInterval < 0 {
		errs = append(errs, fmt.Errorf("JanitorInterval %v is negative", o.JanitorInterval))
	}
	if o.SnapshotInterval < 0 {
		errs = append(errs, fmt.Errorf("SnapshotInterval %v is negative", o.SnapshotInterval))
	}
	if len(errs) > 0 {
		return o, fmt.Errorf("memory: invalid options: %w", errors.Join(append([]error{vectorstore.ErrInvalid}, errs...)...))
	}
	if o.M == 0 {
		o.M = DefaultM
	}
	if o.EfConstruction == 0 {
		o.EfConstruction = DefaultEfConstruction
	}
	o.EfConstruction = max(o.EfConstruction, o.M)
	if o.EfSearch == 0 {
		o.EfSearch = DefaultEfSearch
	}
	switch {
	case o.ExactThreshold == 0:
		o.ExactThreshold = DefaultExactThreshold
	case o.ExactThreshold < 0:
		o.ExactThreshold = 0
	}
	if o.JanitorInterval == 0 {
		o.JanitorInterval = DefaultJanitorInterval
	}
	if o.SnapshotInterval == 0 {
		o.SnapshotInterval = DefaultSnapshotInterval
	}
	if o.Seed == 0 {
		o.Seed = 0x9e3779b97f4a7c15
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o, nil
}
