package engine

import (
	"errors"
	"time"
)

// Policy is the part of an engine's options that may change while it
// serves (semcache's config reload): tenants, RAG, the TTL cap and the
// prices. A call keeps the policy it began with, so a reload never
// changes a request half-way.
type Policy struct {
	// Namespaces resolves tenants (nil: every key its own namespace).
	Namespaces *Namespacer
	// Enricher injects RAG context (nil: none).
	Enricher Enricher
	// MaxTTL caps X-Semcache-TTL (0: DefaultMaxTTL).
	MaxTTL time.Duration
	// Prices value the saved tokens.
	Prices map[string]Price
}

// policy is what a call reads, swapped whole by SetPolicy.
type policy struct {
	ns     *Namespacer
	rag    Enricher
	maxTTL time.Duration
}

// SetPolicy applies p to calls that begin from now on; safe while
// serving.
func (e *Engine) SetPolicy(p Policy) error {
	if p.MaxTTL < 0 {
		return errors.New("engine: MaxTTL must not be negative")
	}
	if p.Namespaces == nil {
		p.Namespaces, _ = NewNamespacer(nil, "")
	}
	if p.MaxTTL == 0 {
		p.MaxTTL = DefaultMaxTTL
	}
	e.metrics.SetPrices(p.Prices)
	e.pol.Store(&policy{ns: p.Namespaces, rag: p.Enricher, maxTTL: p.MaxTTL})
	return nil
}
