package lazy

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// nopStore is a store that records calls.
type nopStore struct {
	searches atomic.Int64
	closed   atomic.Bool
}

func (n *nopStore) Upsert(context.Context, []vectorstore.Record) error { return nil }
func (n *nopStore) Search(context.Context, vectorstore.Query) ([]vectorstore.Hit, error) {
	n.searches.Add(1)
	return nil, nil
}
func (n *nopStore) Delete(context.Context, []string) error                       { return nil }
func (n *nopStore) DeleteWhere(context.Context, vectorstore.Filter) (int, error) { return 0, nil }
func (n *nopStore) Count(context.Context, vectorstore.Filter) (int, error)       { return 0, nil }
func (n *nopStore) Close() error                                                 { n.closed.Store(true); return nil }

func TestConnectsInTheBackground(t *testing.T) {
	inner := &nopStore{}
	var up atomic.Bool
	var calls atomic.Int64
	s, err := Open(context.Background(), Options{Name: "test", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		Open: func(ctx context.Context) (vectorstore.Store, error) {
			calls.Add(1)
			if !up.Load() {
				return nil, vectorstore.ErrUnavailable
			}
			return inner, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Live() {
		t.Fatal("live before the backend is up")
	}
	_, err = s.Search(context.Background(), vectorstore.Query{})
	if !errors.Is(err, vectorstore.ErrUnavailable) {
		t.Fatalf("search while down: %v, want ErrUnavailable", err)
	}
	for calls.Load() < 3 {
		time.Sleep(time.Millisecond)
	}
	up.Store(true)
	select {
	case <-s.Ready():
	case <-time.After(10 * time.Second):
		t.Fatal("never connected")
	}
	if _, err := s.Search(context.Background(), vectorstore.Query{}); err != nil || inner.searches.Load() != 1 {
		t.Fatalf("search once up: %v (%d calls reached the store)", err, inner.searches.Load())
	}
	if err := s.Close(); err != nil || !inner.closed.Load() {
		t.Fatalf("close: %v, inner closed %v", err, inner.closed.Load())
	}
}

func TestConfigurationErrorsAreFatal(t *testing.T) {
	bad := errors.New("pgvector: parse DSN: nonsense")
	_, err := Open(context.Background(), Options{Open: func(context.Context) (vectorstore.Store, error) { return nil, bad }})
	if !errors.Is(err, bad) {
		t.Fatalf("Open = %v, want the configuration error", err)
	}
}

func TestCloseStopsRetrying(t *testing.T) {
	var calls atomic.Int64
	s, err := Open(context.Background(), Options{MinBackoff: time.Millisecond,
		Open: func(context.Context) (vectorstore.Store, error) {
			calls.Add(1)
			return nil, vectorstore.ErrUnavailable
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	time.Sleep(20 * time.Millisecond)
	if calls.Load() != n {
		t.Fatal("still retrying after Close")
	}
	if _, err := s.Count(context.Background(), vectorstore.Filter{}); !errors.Is(err, vectorstore.ErrUnavailable) {
		t.Fatalf("count after close: %v", err)
	}
}
