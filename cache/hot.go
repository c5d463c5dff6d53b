package cache

import (
	"sync/atomic"
	"time"

	"github.com/dgraph-io/ristretto/v2"
)

// hotTier is the in-process exact tier: ristretto with cost = bytes.
type hotTier struct {
	rc *ristretto.Cache[string, *Entry]
	// evicted counts the entries the memory budget pushed out (ristretto's
	// own KeysEvicted also counts deletions and expiries).
	evicted atomic.Uint64
}

func newHotTier(maxBytes int64) (*hotTier, error) {
	counters := max(maxBytes/200, 100_000) // ~10 counters per expected ~2 KB entry
	h := &hotTier{}
	rc, err := ristretto.NewCache(&ristretto.Config[string, *Entry]{
		NumCounters: counters,
		MaxCost:     maxBytes,
		BufferItems: 64,
		Metrics:     true,
		OnEvict: func(it *ristretto.Item[*Entry]) {
			if it.Expiration.IsZero() { // a policy victim; expiries carry their time
				h.evicted.Add(1)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	h.rc = rc
	return h, nil
}

func (h *hotTier) get(k Key) (*Entry, bool) {
	return h.rc.Get(string(k[:]))
}

// set stores e and waits until ristretto has applied the write, so the
// next lookup sees it (ristretto's Set is otherwise eventually visible).
func (h *hotTier) set(k Key, e *Entry, ttl time.Duration) bool {
	ok := h.rc.SetWithTTL(string(k[:]), e, e.Size(), ttl)
	h.rc.Wait()
	return ok
}

func (h *hotTier) del(k Key) { h.rc.Del(string(k[:])) }

func (h *hotTier) close() { h.rc.Close() }

// HotStats are the hot tier's counters.
type HotStats struct {
	Entries int64
	Bytes   int64
	// MaxBytes is the tier's budget (Options.MaxBytes).
	MaxBytes int64
	// Evictions counts the entries the budget pushed out (they stay on
	// disk); Rejected the writes the admission policy refused.
	Evictions uint64
	Rejected  uint64
}

func (h *hotTier) stats() HotStats {
	m := h.rc.Metrics
	added, removed := m.KeysAdded(), m.KeysEvicted()
	return HotStats{
		Entries:   int64(added) - int64(removed),
		Bytes:     int64(m.CostAdded()) - int64(m.CostEvicted()),
		MaxBytes:  h.rc.MaxCost(),
		Evictions: h.evicted.Load(),
		Rejected:  m.SetsRejected() + m.SetsDropped(),
	}
}
