package engine

import (
	"errors"
	"time"
)

// Policy is the part of an engine's options that may change while it
// serves (semcache's config reload): tenants, RAG, the TTL cap, the
// prices and the cache rules. A call keeps the policy it began with, so a reload never
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
	// ClientAuth admits only its keys (nil: everyone).
	ClientAuth *ClientAuth
	// KeyHeaders join the key and the partition (nil: DefaultKeyHeaders;
	// empty: none).
	KeyHeaders []string
	// Rules are the cache rules (nil: none); see NewRules.
	Rules *Rules
	// Answers say how hits present themselves (see answers.go).
	Answers Answers
}

// policy is what a call reads, swapped whole by SetPolicy.
type policy struct {
	ns      *Namespacer
	rag     Enricher
	maxTTL  time.Duration
	auth    *ClientAuth
	keyHdrs []string
	rules   *Rules
	answers Answers
}

// SetPolicy applies p to calls that begin from now on; safe while
// serving.
func (e *Engine) SetPolicy(p Policy) error {
	if p.MaxTTL < 0 {
		return errors.New("engine: MaxTTL must not be negative")
	}
	if err := p.Answers.validate(); err != nil {
		return err
	}
	if p.Namespaces == nil {
		p.Namespaces, _ = NewNamespacer(nil, "")
	}
	if p.MaxTTL == 0 {
		p.MaxTTL = DefaultMaxTTL
	}
	if p.KeyHeaders == nil {
		p.KeyHeaders = DefaultKeyHeaders
	}
	e.metrics.SetPrices(p.Prices)
	e.metrics.watchRules(p.Rules)
	e.pol.Store(&policy{ns: p.Namespaces, rag: p.Enricher, maxTTL: p.MaxTTL, auth: p.ClientAuth, keyHdrs: p.KeyHeaders, rules: p.Rules,
		answers: p.Answers})
	return nil
}
