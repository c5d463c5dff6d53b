package cache

import (
	"errors"
	"fmt"
	"time"
)

// Policy is the part of a cache's configuration that may change while it
// serves (semcache's config reload): lifetimes, quotas and the similarity
// tier's decision (thresholds, shadow mode, the judge). The tiers, the
// embedder and the vector index stay as opened.
type Policy struct {
	// TTL is the lifetime of an entry stored without one (0: keep).
	TTL time.Duration
	// MaxTTL caps every lifetime given to Put or Warm (0: no cap).
	MaxTTL time.Duration
	// Quota bounds each namespace (zero fields: unbounded).
	Quota Quota
	// Semantic replaces the similarity tier's options; it must use the
	// cache's embedder and index. nil keeps the current options.
	Semantic *SemanticOptions
}

// policy is what the request path reads, swapped whole on Reconfigure.
type policy struct {
	ttl, maxTTL time.Duration
	quota       Quota
	sem         *SemanticOptions // nil: no similarity tier
}

// semantic returns the similarity tier's current options (nil when the
// cache has none). Read it once per operation.
func (c *Cache) semantic() *SemanticOptions { return c.pol.Load().sem }

// Reconfigure applies p to new operations; operations under way finish
// with the policy they started with. A policy that does not validate is
// rejected whole and the current one stays.
func (c *Cache) Reconfigure(p Policy) error {
	cur := c.pol.Load()
	next := *cur
	var errs []error
	if p.TTL < 0 || p.MaxTTL < 0 {
		errs = append(errs, errors.New("cache: TTL and MaxTTL must not be negative"))
	}
	if p.TTL > 0 {
		next.ttl = p.TTL
	}
	next.maxTTL = p.MaxTTL
	if p.Quota.Entries < 0 || p.Quota.Bytes < 0 {
		errs = append(errs, errors.New("cache: quota bounds must not be negative"))
	}
	next.quota = p.Quota
	if s := p.Semantic; s != nil {
		switch {
		case cur.sem == nil:
			errs = append(errs, errors.New("cache: the similarity tier cannot be turned on without a restart"))
		case s.Embedder != cur.sem.Embedder || s.Index != cur.sem.Index:
			errs = append(errs, errors.New("cache: the embedder and the index cannot change without a restart"))
		default:
			o := Options{Semantic: s}
			if err := o.validate(); err != nil {
				errs = append(errs, err)
			}
			sc := *s
			fillSemanticDefaults(&sc)
			next.sem = &sc
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cache: reconfigure: %w", err)
	}
	c.pol.Store(&next)
	return nil
}

func fillSemanticDefaults(sc *SemanticOptions) {
	if sc.TopK == 0 {
		sc.TopK = DefaultTopK
	}
	if sc.EmbedTimeout == 0 {
		sc.EmbedTimeout = DefaultEmbedTimeout
	}
	if sc.SearchTimeout == 0 {
		sc.SearchTimeout = DefaultSearchTimeout
	}
	if sc.MaxEmbedBytes == 0 {
		sc.MaxEmbedBytes = DefaultMaxEmbedBytes
	}
	if sc.MaxSemanticBytes == 0 {
		sc.MaxSemanticBytes = DefaultMaxSemanticBytes
	}
}

// lifetime picks an entry's lifetime: ttl, or the default, capped.
func (p *policy) lifetime(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		ttl = p.ttl
	}
	if p.maxTTL > 0 && ttl > p.maxTTL {
		ttl = p.maxTTL
	}
	return ttl
}
