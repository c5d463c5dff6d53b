package engine

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
)

// This file is how hits tell the truth about themselves: the marker in
// the body, the usage a hit reports, the pace of a replayed stream, and
// several stored answers per key for prompts whose answer varies.

// HitUsage is the usage a hit reports.
type HitUsage string

const (
	// HitUsageOriginal reports what the upstream reported when the answer
	// was fetched (what the call would have cost).
	HitUsageOriginal HitUsage = "original"
	// HitUsageZero reports 0 tokens (what the call did cost) and puts the
	// original usage in the marker's saved_usage.
	HitUsageZero HitUsage = "zero"

	// DefaultHitUsage is the usage of a hit unless configured.
	DefaultHitUsage = HitUsageOriginal
)

// MaxVariants bounds the answers one key keeps (Answers.Variants).
const MaxVariants = 16

// Answers say how hits present themselves and how many answers a key
// keeps. They are part of the reloadable Policy.
type Answers struct {
	// Marker adds the "semcache" member (wire.Marker) to every hit; a
	// request asks for it alone with X-Semcache-Hit-Marker: true (and
	// leaves it out with false).
	Marker bool
	// Usage is the usage a hit reports (default DefaultHitUsage); a
	// request chooses with X-Semcache-Hit-Usage. Zero always adds the
	// marker, which then holds the original usage.
	Usage HitUsage
	// Pace spaces the events of a replayed stream (0: none). The HTTP
	// front waits this long between two events while the client stays;
	// Envoy gets a hit in one piece (ext_proc's immediate response cannot
	// stream), so pacing does not apply there.
	Pace time.Duration
	// Variants is how many answers a key keeps (0 or 1: one). With N, the
	// first N lookups of a key miss and each stores its answer; later
	// exact hits take turns among them. A semantic hit serves the matched
	// entry's answers in turn and never stores one. Batch APIs
	// (embeddings) keep one answer per input.
	Variants int
	// NamespaceVariants overrides Variants per namespace.
	NamespaceVariants map[string]int
}

// Validate reports every problem of a.
func (a Answers) Validate() error { return a.validate() }

// validate checks a and fills its defaults.
func (a *Answers) validate() error {
	var errs []error
	switch a.Usage {
	case "":
		a.Usage = DefaultHitUsage
	case HitUsageOriginal, HitUsageZero:
	default:
		errs = append(errs, fmt.Errorf("engine: hit usage %q: want original or zero", a.Usage))
	}
	if a.Pace < 0 {
		errs = append(errs, errors.New("engine: replay pace must not be negative"))
	}
	if a.Variants < 0 || a.Variants > MaxVariants {
		errs = append(errs, fmt.Errorf("engine: variants %d: want 1..%d", a.Variants, MaxVariants))
	}
	for ns, n := range a.NamespaceVariants {
		if n < 1 || n > MaxVariants {
			errs = append(errs, fmt.Errorf("engine: variants of namespace %q %d: want 1..%d", ns, n, MaxVariants))
		}
	}
	if a.Variants == 0 {
		a.Variants = 1
	}
	return errors.Join(errs...)
}

// variants is how many answers a key of ns keeps.
func (a *Answers) variants(ns string) int {
	if n, ok := a.NamespaceVariants[ns]; ok {
		return n
	}
	return max(a.Variants, 1)
}

// answerControls are a request's choices about its own hit.
type answerControls struct {
	marker *bool    // nil: the server's choice
	usage  HitUsage // "": the server's choice
}

// answerHeaders are the request headers answerControls come from (never
// sent upstream).
var answerHeaders = []string{"X-Semcache-Hit-Marker", "X-Semcache-Hit-Usage"}

// parseAnswerControls reads X-Semcache-Hit-Marker (true or false) and
// X-Semcache-Hit-Usage (original or zero).
func parseAnswerControls(h http.Header) (answerControls, error) {
	var ac answerControls
	if v := h.Get("X-Semcache-Hit-Marker"); v != "" {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "on", "1":
			ac.marker = new(bool)
			*ac.marker = true
		case "false", "off", "0":
			ac.marker = new(bool)
		default:
			return ac, fmt.Errorf("%w: X-Semcache-Hit-Marker must be true or false, got %q", ErrBadControl, v)
		}
	}
	if v := h.Get("X-Semcache-Hit-Usage"); v != "" {
		switch u := HitUsage(strings.ToLower(strings.TrimSpace(v))); u {
		case HitUsageOriginal, HitUsageZero:
			ac.usage = u
		default:
			return ac, fmt.Errorf("%w: X-Semcache-Hit-Usage must be original or zero, got %q", ErrBadControl, v)
		}
	}
	return ac, nil
}

// zeroUsage reports whether the call's hits report zero usage.
func (c *Call) zeroUsage() bool {
	u := c.pol.answers.Usage
	if c.actl.usage != "" {
		u = c.actl.usage
	}
	return u == HitUsageZero
}

// wantsMarker reports whether the call's hits carry the marker.
func (c *Call) wantsMarker() bool {
	if c.zeroUsage() {
		return true // the original usage has to go somewhere
	}
	if c.actl.marker != nil {
		return *c.actl.marker
	}
	return c.pol.answers.Marker
}

// variants is how many answers the call's key keeps: more than one only
// for single-answer requests.
func (c *Call) variants() int {
	if len(c.items) != 1 {
		return 1
	}
	return c.pol.answers.variants(c.ns)
}

// filling reports whether an exact hit on e must still go upstream: its
// key keeps more answers than e holds so far.
func (c *Call) filling(e *cache.Entry) bool {
	return !c.ctl.NoCache && e.AliasOf == "" && e.Answers() < c.variants()
}

// put stores the fetched answer to item i: one more variant of its entry
// when the key keeps several (a no-cache refresh replaces them all).
func (c *Call) put(i int, a cache.Answer, ttl time.Duration) {
	l, vec, src := c.items[i], c.results[i].Vector, c.enrich.Sources
	if n := c.variants(); n > 1 && !c.ctl.NoCache {
		c.e.cache.PutVariant(l, a, vec, ttl, src, n)
		return
	}
	c.e.cache.Put(l, a, vec, ttl, src)
}

// picked is what a hit serves: the answer of each hit entry (its next
// variant) and the marker.
type picked struct {
	answers []*cache.Answer
	opts    wire.RenderOptions
	// variant is "i/n" when a single entry keeps several answers.
	variant string
}

// pick chooses the answers of a full hit and how they are rendered.
func (c *Call) pick(now time.Time, sources []string) picked {
	p := picked{answers: make([]*cache.Answer, len(c.hits))}
	n := c.variants()
	var m *wire.Marker
	if c.wantsMarker() {
		m = &wire.Marker{Hit: markerHit(c.outcome), Sources: sources}
	}
	age := time.Duration(0)
	for i, e := range c.hits {
		a, vi := e.Pick(n)
		p.answers[i] = a
		age = max(age, now.Sub(e.CreatedAt))
		if total := min(e.Answers(), n); total > 1 && len(c.hits) == 1 {
			p.variant = strconv.Itoa(vi+1) + "/" + strconv.Itoa(total)
			if m != nil {
				m.Variant, m.Variants = vi+1, total
			}
		}
		if m != nil && len(c.hits) > 1 {
			m.Entries = append(m.Entries, e.ID)
		}
	}
	if m != nil {
		m.Age = int64(max(0, age.Seconds()))
		if len(c.hits) == 1 {
			m.Entry = c.hits[0].ID
			if c.outcome == OutcomeHitSemantic {
				sim, score := round4(c.results[0].Similarity), round4(c.results[0].Score)
				m.Similarity, m.Score = &sim, &score
			}
		}
	}
	p.opts = wire.RenderOptions{Now: now, ZeroUsage: c.zeroUsage(), Marker: m}
	return p
}

// mergedOptions are the render options of a batch's partial hit: the
// fetched answers' usage always counts.
func (c *Call) mergedOptions(now time.Time) wire.RenderOptions {
	o := wire.RenderOptions{Now: now, ZeroUsage: c.zeroUsage(), Fresh: make([]bool, len(c.items))}
	for _, i := range c.missing {
		o.Fresh[i] = true
	}
	if !c.wantsMarker() {
		return o
	}
	m := &wire.Marker{Hit: "partial", Entries: make([]string, len(c.items))}
	age := time.Duration(0)
	for i, e := range c.hits {
		if e != nil {
			m.Entries[i] = e.ID
			age = max(age, now.Sub(e.CreatedAt))
		}
	}
	m.Age = int64(max(0, age.Seconds()))
	o.Marker = m
	return o
}

func markerHit(outcome string) string {
	if outcome == OutcomeHitSemantic {
		return "semantic"
	}
	return "exact"
}

func round4(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'f', 4, 32), 64)
	return v
}
