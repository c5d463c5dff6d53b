// Package lazy opens a vector store that may be down at start-up: semcache
// then starts without it (every call fails with
// vectorstore.ErrUnavailable, so lookups degrade to misses and the cache's
// write-back keeps a backlog) and connects in the background, retrying
// with backoff, until the store is live. No restart is needed.
package lazy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// Defaults of Options.
const (
	DefaultMinBackoff = 500 * time.Millisecond
	DefaultMaxBackoff = 30 * time.Second
	// DefaultAttemptTimeout bounds one connection attempt.
	DefaultAttemptTimeout = 10 * time.Second
)

// Opener connects to a store. An error wrapping vectorstore.ErrUnavailable
// is retried; any other error (a bad DSN, a dimension mismatch) is a
// configuration error and is returned by Open.
type Opener func(ctx context.Context) (vectorstore.Store, error)

// Options configure Open.
type Options struct {
	Open Opener
	// Name labels log lines ("pgvector semcache_entries_use").
	Name           string
	MinBackoff     time.Duration
	MaxBackoff     time.Duration
	AttemptTimeout time.Duration
	Logger         *slog.Logger
}

// Store is a vectorstore.Store whose backend may not be connected yet.
type Store struct {
	o      Options
	inner  atomic.Pointer[vectorstore.Store]
	ready  chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	closed bool
	// attempts counts connection attempts; lastErr is the latest failure.
	attempts atomic.Int64
	lastErr  atomic.Pointer[error]
}

var _ vectorstore.Store = (*Store)(nil)

// Open tries to connect once. When the store is unavailable it returns a
// Store that keeps trying in the background; a configuration error is
// returned as is.
func Open(ctx context.Context, o Options) (*Store, error) {
	if o.Open == nil {
		return nil, errors.New("lazy: needs an opener")
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = DefaultMinBackoff
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(DefaultMaxBackoff, o.MinBackoff)
	}
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = DefaultAttemptTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{o: o, ready: make(chan struct{}), done: make(chan struct{})}
	err := s.attempt(ctx)
	if err == nil {
		close(s.done)
		return s, nil
	}
	if !errors.Is(err, vectorstore.ErrUnavailable) {
		return nil, err
	}
	o.Logger.Warn("vector store unavailable at start-up; serving without it and connecting in the background",
		"store", o.Name, "err", err)
	bg, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	go s.connect(bg)
	return s, nil
}

// attempt opens the store once.
func (s *Store) attempt(ctx context.Context) error {
	s.attempts.Add(1)
	actx, cancel := context.WithTimeout(ctx, s.o.AttemptTimeout)
	defer cancel()
	st, err := s.o.Open(actx)
	if err != nil {
		s.lastErr.Store(&err)
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.Join(vectorstore.ErrClosed, st.Close())
	}
	s.inner.Store(&st)
	close(s.ready)
	return nil
}

// connect retries with exponential backoff until the store is live, a
// configuration error shows up, or Close.
func (s *Store) connect(ctx context.Context) {
	defer close(s.done)
	backoff := s.o.MinBackoff
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		err := s.attempt(ctx)
		switch {
		case err == nil:
			s.o.Logger.Info("vector store connected", "store", s.o.Name, "attempts", s.attempts.Load())
			return
		case ctx.Err() != nil:
			return
		case !errors.Is(err, vectorstore.ErrUnavailable):
			// Reachable but refusing (e.g. the table has another dimension):
			// keep serving without it, and keep saying why.
			s.o.Logger.Error("vector store refused the connection; retrying", "store", s.o.Name, "err", err)
		default:
			s.o.Logger.Debug("vector store still unavailable", "store", s.o.Name, "err", err)
		}
		backoff = min(2*backoff, s.o.MaxBackoff)
	}
}

// Ready is closed once the store is connected.
func (s *Store) Ready() <-chan struct{} { return s.ready }

// Live reports whether the store is connected.
func (s *Store) Live() bool { return s.inner.Load() != nil }

func (s *Store) get() (vectorstore.Store, error) {
	p := s.inner.Load()
	if p == nil {
		msg := "not connected yet"
		if e := s.lastErr.Load(); e != nil {
			msg = (*e).Error()
		}
		return nil, fmt.Errorf("%w: %s (%s)", vectorstore.ErrUnavailable, s.o.Name, msg)
	}
	return *p, nil
}

func (s *Store) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	st, err := s.get()
	if err != nil {
		return err
	}
	return st.Upsert(ctx, recs)
}

func (s *Store) Search(ctx context.Context, q vectorstore.Query) ([]vectorstore.Hit, error) {
	st, err := s.get()
	if err != nil {
		return nil, err
	}
	return st.Search(ctx, q)
}

func (s *Store) Delete(ctx context.Context, ids []string) error {
	st, err := s.get()
	if err != nil {
		return err
	}
	return st.Delete(ctx, ids)
}

func (s *Store) DeleteWhere(ctx context.Context, f vectorstore.Filter) (int, error) {
	st, err := s.get()
	if err != nil {
		return 0, err
	}
	return st.DeleteWhere(ctx, f)
}

func (s *Store) Count(ctx context.Context, f vectorstore.Filter) (int, error) {
	st, err := s.get()
	if err != nil {
		return 0, err
	}
	return st.Count(ctx, f)
}

// Close stops connecting and closes the store when connected.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	<-s.done
	if p := s.inner.Load(); p != nil {
		return (*p).Close()
	}
	return nil
}
