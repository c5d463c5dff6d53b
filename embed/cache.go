package embed

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
)

// DefaultCacheEntries is the capacity NewCached uses when
// CacheOptions.MaxEntries is not positive.
const DefaultCacheEntries = 10000

// CacheOptions configures NewCached.
type CacheOptions struct {
	// MaxEntries bounds how many vectors are kept; the least recently used
	// is evicted first. Zero or negative means DefaultCacheEntries.
	MaxEntries int
}

// Cached is an Embedder that remembers the vectors of an inner Embedder by
// text, in a bounded LRU.
//
//   - A text seen before is answered without calling inner.
//   - Identical texts requested concurrently (or twice in one call) share one
//     inner call: later callers wait for the call in flight.
//   - Only the misses of a call go to inner, in a single call, in the order
//     they first appear; results come back in the caller's order.
//   - Errors are not cached: the next request for the text calls inner again.
//   - Every Embed returns freshly allocated vectors, so callers may modify
//     them without affecting the cache or each other.
//
// The inner call runs detached from the caller's cancellation (values are
// kept): a caller whose ctx ends gets ctx.Err() at once, while the call
// finishes for the other waiters and fills the cache. Inner must therefore
// bound its own call time, as embed/openai does with its per-call timeout.
//
// The LRU is a mutex-guarded container/list rather than a concurrent cache
// such as ristretto: it is exact and deterministic (a vector just stored is
// always found, eviction order is testable), and the critical section is a
// map lookup and a list move, tiny next to computing an embedding.
//
// Cached is safe for concurrent use.
type Cached struct {
	inner Embedder
	max   int
	// Keys are 128 bits: two 64-bit maphash values under independent
	// random seeds, so texts are not kept in memory and collisions need a
	// 2^-128 accident (the seeds are secret, so they cannot be forced).
	seed1, seed2 maphash.Seed

	mu       sync.Mutex
	lru      *list.List // of *cacheEntry; front is most recently used
	items    map[cacheKey]*list.Element
	inflight map[cacheKey]*flight

	hits, misses atomic.Uint64
}

var _ Embedder = (*Cached)(nil)

type cacheKey [2]uint64

type cacheEntry struct {
	key cacheKey
	vec []float32 // owned by the cache, never handed out
}

// flight is one text being computed by an inner call. vec and err are
// written before done is closed and only read after.
type flight struct {
	done chan struct{}
	vec  []float32
	err  error
}

// NewCached wraps inner with a cache.
func NewCached(inner Embedder, opts CacheOptions) *Cached {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultCacheEntries
	}
	return &Cached{
		inner:    inner,
		max:      opts.MaxEntries,
		seed1:    maphash.MakeSeed(),
		seed2:    maphash.MakeSeed(),
		lru:      list.New(),
		items:    make(map[cacheKey]*list.Element),
		inflight: make(map[cacheKey]*flight),
	}
}

// Dimension implements Embedder; it is inner's.
func (c *Cached) Dimension() int { return c.inner.Dimension() }

// ModelID implements Embedder; it is inner's, since the vectors are.
func (c *Cached) ModelID() string { return c.inner.ModelID() }

// Stats reports how many texts were answered without an inner call of
// their own (from the cache or by joining a call in flight) and how many
// were sent to inner.
func (c *Cached) Stats() (hits, misses uint64) {
	return c.hits.Load(), c.misses.Load()
}

func (c *Cached) key(text string) cacheKey {
	return cacheKey{maphash.String(c.seed1, text), maphash.String(c.seed2, text)}
}

// Embed implements Embedder.
func (c *Cached) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("embed: cache: %w", err)
	}
	out := make([][]float32, len(texts))
	type wait struct {
		i int
		f *flight
	}
	var (
		waits     []wait
		missTexts []string
		missKeys  []cacheKey
		missFl    []*flight
		hits      uint64
	)
	c.mu.Lock()
	for i, text := range texts {
		k := c.key(text)
		if el, ok := c.items[k]; ok {
			c.lru.MoveToFront(el)
			out[i] = cloneVector(el.Value.(*cacheEntry).vec)
			hits++
			continue
		}
		f, ok := c.inflight[k]
		if ok {
			hits++
		} else {
			f = &flight{done: make(chan struct{})}
			c.inflight[k] = f
			missTexts = append(missTexts, text)
			missKeys = append(missKeys, k)
			missFl = append(missFl, f)
		}
		waits = append(waits, wait{i, f})
	}
	c.mu.Unlock()
	c.hits.Add(hits)
	c.misses.Add(uint64(len(missTexts)))

	if len(missTexts) > 0 {
		go c.fill(context.WithoutCancel(ctx), missTexts, missKeys, missFl)
	}
	for _, w := range waits {
		select {
		case <-w.f.done:
		case <-ctx.Done():
			return nil, fmt.Errorf("embed: cache: %w", ctx.Err())
		}
		if w.f.err != nil {
			return nil, w.f.err
		}
		out[w.i] = cloneVector(w.f.vec)
	}
	return out, nil
}

// fill computes texts with one inner call, stores the results and releases
// their flights.
func (c *Cached) fill(ctx context.Context, texts []string, keys []cacheKey, flights []*flight) {
	vecs, err := c.inner.Embed(ctx, texts)
	if err == nil {
		err = c.check(vecs, len(texts))
	} else if !errors.Is(err, ErrEmbed) {
		err = fmt.Errorf("embed: cache: %w: %w", ErrEmbed, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, f := range flights {
		delete(c.inflight, keys[i])
		if err != nil {
			f.err = err
		} else {
			f.vec = cloneVector(vecs[i]) // own copy: inner's slices may share a backing array
			c.store(keys[i], f.vec)
		}
		close(f.done)
	}
}

// check validates inner's answer for n texts.
func (c *Cached) check(vecs [][]float32, n int) error {
	if len(vecs) != n {
		return fmt.Errorf("embed: cache: inner returned %d vectors for %d texts: %w", len(vecs), n, ErrEmbed)
	}
	dim := c.inner.Dimension()
	for i, v := range vecs {
		if len(v) != dim {
			return fmt.Errorf("embed: cache: inner vector %d has %d dimensions, want %d: %w", i, len(v), dim, ErrEmbed)
		}
	}
	return nil
}

// store adds vec under k and evicts beyond capacity. c.mu must be held.
func (c *Cached) store(k cacheKey, vec []float32) {
	if el, ok := c.items[k]; ok {
		el.Value.(*cacheEntry).vec = vec
		c.lru.MoveToFront(el)
		return
	}
	c.items[k] = c.lru.PushFront(&cacheEntry{key: k, vec: vec})
	for c.lru.Len() > c.max {
		el := c.lru.Back()
		c.lru.Remove(el)
		delete(c.items, el.Value.(*cacheEntry).key)
	}
}

func cloneVector(v []float32) []float32 {
	return append([]float32(nil), v...)
}
