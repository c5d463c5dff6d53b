package embed

import (
	"container/list"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
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
	// FinishAbandoned keeps an inner call running after every caller
	// waiting for it has left, so its vectors still fill the cache: worth
	// it for a remote embedder that bounds its own call time (embed/openai
	// does), wasteful for an in-process one, whose work the callers'
	// deadlines must stop. False (the default) cancels it.
	FinishAbandoned bool
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
// The inner call runs detached from any one caller's cancellation (values
// are kept): a caller whose ctx ends gets an error wrapping ctx.Err() at
// once, while the call goes on for the other callers waiting for its texts
// and fills the cache. When the last of them has left, the call's context
// is cancelled (unless CacheOptions.FinishAbandoned), its texts stop being
// "in flight" (a later request starts a new call), and an in-process
// embedder stops computing at its next check. The call's context carries
// no deadline: a caller's deadline bounds the work through that
// cancellation.
//
// The LRU is a mutex-guarded container/list rather than a concurrent cache
// such as ristretto: it is exact and deterministic (a vector just stored is
// always found, eviction order is testable), and the critical section is a
// map lookup and a list move, tiny next to computing an embedding.
//
// Cached is safe for concurrent use.
type Cached struct {
	inner  Embedder
	max    int
	finish bool
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
	call *fillCall
}

// fillCall is one inner call and the callers waiting for some of its
// texts. Its fields are guarded by Cached.mu.
type fillCall struct {
	cancel  context.CancelFunc
	waiters int // callers still waiting for one of its flights
	keys    []cacheKey
	flights []*flight
}

// NewCached wraps inner with a cache.
func NewCached(inner Embedder, opts CacheOptions) *Cached {
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultCacheEntries
	}
	return &Cached{
		inner:    inner,
		max:      opts.MaxEntries,
		finish:   opts.FinishAbandoned,
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
		return nil, fmt.Errorf("embed: cache: %w: %w", ErrEmbed, err)
	}
	out := make([][]float32, len(texts))
	type wait struct {
		i int
		f *flight
	}
	var (
		waits     []wait
		calls     []*fillCall // calls this caller waits on, each once
		fill      *fillCall   // the call for this caller's own misses
		missTexts []string
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
			if !slices.Contains(calls, f.call) {
				f.call.waiters++
				calls = append(calls, f.call)
			}
		} else {
			if fill == nil {
				fill = &fillCall{waiters: 1}
				calls = append(calls, fill)
			}
			f = &flight{done: make(chan struct{}), call: fill}
			c.inflight[k] = f
			missTexts = append(missTexts, text)
			fill.keys = append(fill.keys, k)
			fill.flights = append(fill.flights, f)
		}
		waits = append(waits, wait{i, f})
	}
	var fctx context.Context
	if fill != nil {
		fctx, fill.cancel = context.WithCancel(context.WithoutCancel(ctx))
	}
	c.mu.Unlock()
	c.hits.Add(hits)
	c.misses.Add(uint64(len(missTexts)))

	if fill != nil {
		go c.fill(fctx, missTexts, fill)
	}
	for _, w := range waits {
		select {
		case <-w.f.done:
		case <-ctx.Done():
			c.leave(calls)
			return nil, fmt.Errorf("embed: cache: %w: %w", ErrEmbed, ctx.Err())
		}
		if w.f.err != nil {
			c.leave(calls) // other calls it joined may still be running
			return nil, w.f.err
		}
		out[w.i] = cloneVector(w.f.vec)
	}
	return out, nil
}

// leave records that a caller stopped waiting for calls; a call nobody
// waits for any more is cancelled and its texts leave the in-flight set.
func (c *Cached) leave(calls []*fillCall) {
	if c.finish {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, call := range calls {
		call.waiters--
		if call.waiters > 0 {
			continue
		}
		call.cancel()
		for i, k := range call.keys {
			if c.inflight[k] == call.flights[i] {
				delete(c.inflight, k)
			}
		}
	}
}

// fill computes texts with one inner call, stores the results and releases
// their flights.
func (c *Cached) fill(ctx context.Context, texts []string, call *fillCall) {
	vecs, err := c.inner.Embed(ctx, texts)
	if err == nil {
		err = c.check(vecs, len(texts))
	} else if !errors.Is(err, ErrEmbed) {
		err = fmt.Errorf("embed: cache: %w: %w", ErrEmbed, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	call.cancel()
	for i, f := range call.flights {
		k := call.keys[i]
		if c.inflight[k] == f {
			delete(c.inflight, k)
		}
		if err != nil {
			f.err = err
		} else {
			f.vec = cloneVector(vecs[i]) // own copy: inner's slices may share a backing array
			c.store(k, f.vec)
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
