package admin

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
)

// TrackerOptions configure a Tracker.
type TrackerOptions struct {
	// Entries bounds the entries whose hits are counted (default 1000):
	// past it, the least-hit half is forgotten.
	Entries int
	// Misses is how many recent misses are kept (default 50).
	Misses int
	// PromptChars truncates the prompts kept (default 160 characters).
	PromptChars int
	Now         func() time.Time
}

// Tracker watches the engine's calls (install it as the engine's
// Observer) and keeps the most-hit entries and the latest misses, in
// memory, since the process started. Prompts it keeps are shown to admins.
type Tracker struct {
	maxEntries  int
	promptChars int
	now         func() time.Time

	mu      sync.Mutex
	entries map[string]*TopEntry // by entry key
	misses  []Miss               // ring
	next    int
	full    bool
}

var _ engine.Observer = (*Tracker)(nil)

// NewTracker validates o.
func NewTracker(o TrackerOptions) (*Tracker, error) {
	if o.Entries < 0 || o.Misses < 0 || o.PromptChars < 0 {
		return nil, errors.New("admin: tracker sizes must not be negative")
	}
	if o.Entries == 0 {
		o.Entries = 1000
	}
	if o.Misses == 0 {
		o.Misses = 50
	}
	if o.PromptChars == 0 {
		o.PromptChars = 160
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Tracker{maxEntries: o.Entries, promptChars: o.PromptChars, now: o.Now,
		entries: map[string]*TopEntry{}, misses: make([]Miss, o.Misses)}, nil
}

// TopEntry is a cached entry and the hits it served.
type TopEntry struct {
	ID           string    `json:"id"`
	Route        string    `json:"route"`
	Key          string    `json:"key"`
	Namespace    string    `json:"namespace"`
	Model        string    `json:"model"`
	Prompt       string    `json:"prompt"`
	Hits         int       `json:"hits"`
	ExactHits    int       `json:"exact_hits"`
	SemanticHits int       `json:"semantic_hits"`
	TokensSaved  int       `json:"tokens_saved"`
	CreatedAt    time.Time `json:"created_at"`
	LastHit      time.Time `json:"last_hit"`
}

// Miss is a request the cache could not answer.
type Miss struct {
	Time      time.Time `json:"time"`
	Route     string    `json:"route"`
	Namespace string    `json:"namespace"`
	Model     string    `json:"model"`
	Prompt    string    `json:"prompt"`
	// Outcome is miss, hit_partial (some items of a batch were cached) or
	// bypass (never cached: n > 1, logprobs, an API semcache passes
	// through, …).
	Outcome string `json:"outcome"`
	// Reason says why a miss was one: no_cache (the client asked),
	// rejected (the verifier refused the nearest candidate), degraded (the
	// similarity tier failed), shadow (a shadow-mode would-be hit), or
	// new; for a bypass, why it is never cached.
	Reason string `json:"reason"`
	// NearestScore is the similarity of the best candidate the verifier
	// refused or the shadow hit (0 if none).
	NearestScore float32 `json:"nearest_score,omitempty"`
	// RejectedFor is the verifier's reason for refusing it.
	RejectedFor string  `json:"rejected_for,omitempty"`
	Seconds     float64 `json:"seconds"`
}

// ObserveCall implements engine.Observer.
func (t *Tracker) ObserveCall(s *engine.Summary) {
	switch s.Outcome {
	case engine.OutcomeHitExact, engine.OutcomeHitSemantic:
		if s.Entry != nil {
			t.hit(s)
		}
	case engine.OutcomeMiss, engine.OutcomeBypass, engine.OutcomeHitPartial:
		t.miss(s)
	}
}

func (t *Tracker) hit(s *engine.Summary) {
	e := s.Entry
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	te := t.entries[e.Key]
	if te == nil {
		te = &TopEntry{ID: e.ID, Key: e.Key, Namespace: e.Namespace, Model: e.RequestModel, Route: s.Route,
			Prompt: truncate(entryText(e), t.promptChars), CreatedAt: e.CreatedAt}
		t.entries[e.Key] = te
	}
	te.Hits++
	if s.Outcome == engine.OutcomeHitExact {
		te.ExactHits++
	} else {
		te.SemanticHits++
	}
	served := s.Answer
	if served == nil {
		served = &e.Answer
	}
	if u := served.Usage; u != nil {
		te.TokensSaved += u.PromptTokens + u.CompletionTokens
	}
	te.LastHit = now
	if len(t.entries) > 2*t.maxEntries {
		t.shrink()
	}
}

// entryText is what the dashboard shows of an entry: its prompt, else
// its answer's text.
func entryText(e *cache.Entry) string {
	if e.Prompt != "" {
		return e.Prompt
	}
	return e.Answer.Text
}

// shrink keeps the maxEntries most-hit entries.
func (t *Tracker) shrink() {
	all := make([]*TopEntry, 0, len(t.entries))
	for _, e := range t.entries {
		all = append(all, e)
	}
	sortTop(all)
	for _, e := range all[t.maxEntries:] {
		delete(t.entries, e.Key)
	}
}

func sortTop(es []*TopEntry) {
	slices.SortFunc(es, func(a, b *TopEntry) int {
		if a.Hits != b.Hits {
			return b.Hits - a.Hits
		}
		if c := b.LastHit.Compare(a.LastHit); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
}

func (t *Tracker) miss(s *engine.Summary) {
	m := Miss{Time: t.now(), Namespace: s.Namespace, Route: s.Route, Outcome: s.Outcome, Reason: s.Reason,
		Model: s.Model, Prompt: truncate(s.Prompt, t.promptChars), Seconds: s.Elapsed.Seconds(),
		NearestScore: s.Similarity, RejectedFor: s.RejectedFor}
	if s.Outcome == engine.OutcomeHitPartial {
		m.Reason = fmt.Sprintf("%d of %d items cached", s.Hits, s.Items)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.misses) == 0 {
		return
	}
	t.misses[t.next] = m
	t.next = (t.next + 1) % len(t.misses)
	if t.next == 0 {
		t.full = true
	}
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// Top returns the n most-hit entries of namespace ns ("" for all).
func (t *Tracker) Top(ns string, n int) []TopEntry {
	t.mu.Lock()
	all := make([]*TopEntry, 0, len(t.entries))
	for _, e := range t.entries {
		if inScope(ns, e.Namespace) {
			all = append(all, e)
		}
	}
	sortTop(all)
	out := make([]TopEntry, 0, min(n, len(all)))
	for _, e := range all[:min(n, len(all))] {
		out = append(out, *e)
	}
	t.mu.Unlock()
	return out
}

// Misses returns the n latest misses of namespace ns ("" for all),
// newest first.
func (t *Tracker) Misses(ns string, n int) []Miss {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := []Miss{}
	size := t.next
	if t.full {
		size = len(t.misses)
	}
	for i := 1; i <= size && len(out) < n; i++ {
		m := t.misses[(t.next-i+len(t.misses))%len(t.misses)]
		if inScope(ns, m.Namespace) {
			out = append(out, m)
		}
	}
	return out
}

// ForgetNamespace drops the entries of ns (after it was deleted).
func (t *Tracker) ForgetNamespace(ns string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.entries {
		if e.Namespace == ns {
			delete(t.entries, k)
		}
	}
}

// ForgetEntry drops one entry of ns, by entry id or key.
func (t *Tracker) ForgetEntry(ns, id string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.entries {
		if e.Namespace == ns && (e.ID == id || e.Key == id) {
			delete(t.entries, k)
		}
	}
}
