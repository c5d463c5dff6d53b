package embed

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
)

// ErrOverloaded is wrapped (next to ErrEmbed) by the errors of a call that
// was refused or gave up because the embedder was busy: no slot before the
// caller's deadline, or a full queue. A caller degrades to a cache miss
// and can count the reason with errors.Is.
var ErrOverloaded = errors.New("embed: overloaded")

// LimitOptions configures NewLimited.
type LimitOptions struct {
	// MaxConcurrent bounds the inner calls in progress at once. Zero
	// means GOMAXPROCS at construction: an in-process encoder is CPU-bound
	// and gains nothing from more calls than cores.
	MaxConcurrent int
	// MaxWaiting bounds the calls waiting for a slot: a call that finds
	// that many waiting fails at once. Zero means no bound (waits are
	// still bounded by each caller's deadline).
	MaxWaiting int
}

// Validate reports every invalid field.
func (o LimitOptions) Validate() error {
	var errs []error
	if o.MaxConcurrent < 0 {
		errs = append(errs, fmt.Errorf("embed: limit MaxConcurrent %d is negative", o.MaxConcurrent))
	}
	if o.MaxWaiting < 0 {
		errs = append(errs, fmt.Errorf("embed: limit MaxWaiting %d is negative", o.MaxWaiting))
	}
	return errors.Join(errs...)
}

// LimitStats counts what a Limited did.
type LimitStats struct {
	Calls    uint64 // calls that got a slot and reached inner
	Waited   uint64 // of those, calls that had to wait for their slot
	Rejected uint64 // calls refused at once because MaxWaiting were waiting
	TimedOut uint64 // calls whose context ended while waiting for a slot
}

// Limited is an Embedder that lets at most MaxConcurrent calls into an
// inner Embedder at once (one slot per Embed call, whatever its number of
// texts). Other calls wait in FIFO-ish order (Go channel send order) for a
// slot until their context ends; one that gets no slot in time fails with
// an error wrapping ErrEmbed, ErrOverloaded and the context's cause, at its
// deadline and not later, and is counted.
//
// Limited is safe for concurrent use.
type Limited struct {
	inner   Embedder
	slots   chan struct{}
	maxWait int64

	waiting                           atomic.Int64
	calls, waited, rejected, timedOut atomic.Uint64
}

var _ Embedder = (*Limited)(nil)

// NewLimited wraps inner.
func NewLimited(inner Embedder, opts LimitOptions) (*Limited, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.MaxConcurrent == 0 {
		opts.MaxConcurrent = runtime.GOMAXPROCS(0)
	}
	return &Limited{inner: inner, slots: make(chan struct{}, opts.MaxConcurrent), maxWait: int64(opts.MaxWaiting)}, nil
}

// Dimension implements Embedder; it is inner's.
func (l *Limited) Dimension() int { return l.inner.Dimension() }

// ModelID implements Embedder; it is inner's.
func (l *Limited) ModelID() string { return l.inner.ModelID() }

// Stats returns the counters so far.
func (l *Limited) Stats() LimitStats {
	return LimitStats{Calls: l.calls.Load(), Waited: l.waited.Load(), Rejected: l.rejected.Load(), TimedOut: l.timedOut.Load()}
}

// Embed implements Embedder.
func (l *Limited) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embed: limit: %w: %w", ErrEmbed, context.Cause(ctx))
	}
	select {
	case l.slots <- struct{}{}:
	default:
		if err := l.wait(ctx); err != nil {
			return nil, err
		}
	}
	defer func() { <-l.slots }()
	l.calls.Add(1)
	return l.inner.Embed(ctx, texts)
}

// wait blocks until a slot is free or ctx ends.
func (l *Limited) wait(ctx context.Context) error {
	if n := l.waiting.Add(1); l.maxWait > 0 && n > l.maxWait {
		l.waiting.Add(-1)
		l.rejected.Add(1)
		return fmt.Errorf("embed: limit: %d calls already waiting: %w: %w", l.maxWait, ErrEmbed, ErrOverloaded)
	}
	defer l.waiting.Add(-1)
	select {
	case l.slots <- struct{}{}:
		l.waited.Add(1)
		return nil
	case <-ctx.Done():
		l.timedOut.Add(1)
		return fmt.Errorf("embed: limit: no free slot: %w: %w: %w", ErrEmbed, ErrOverloaded, context.Cause(ctx))
	}
}
