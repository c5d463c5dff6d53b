package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
)

// Error budgets (cache/budget): in a namespace with a budget, the lookup
// asks the verifier for every candidate its rules accept above the
// learner's score floor, and the learner decides: serve, explore (send it
// upstream and compare: X-Semcache-Explore: true) or miss. Every candidate
// not served is compared with the fresh answer when it arrives, and the
// label is recorded against its entry; shadow-mode would-be hits and
// explicit feedback feed the same learner.

// budgetCall is a call's budget state.
type budgetCall struct {
	pending []budgetPending
	explore bool
}

// budgetPending is a candidate of item whose label waits for the fresh
// answer.
type budgetPending struct {
	item   int
	entry  *cache.Entry
	cand   budget.Candidate
	weight float64
	source budget.Source
}

// budgetNS is the namespace whose budget governs the call: a
// sub-namespace shares its parent's.
func (c *Call) budgetNS() string { return cache.ParentNamespace(c.ns) }

// budgeted reports whether the call's namespace has an error budget.
func (c *Call) budgeted() bool {
	if c.e.budget == nil {
		return false
	}
	_, ok := c.e.budget.Budget(c.budgetNS())
	return ok
}

// budgetFloor prepares item i's lookup in a budgeted namespace: the
// verifier's cut-off gives way to the learner's floor.
func (c *Call) budgetFloor(i int) {
	if !c.budgeted() {
		return
	}
	c.e.budget.Seen()
	c.items[i].ScoreFloor = c.e.budget.ScoreFloor()
}

// budgetDecide lets the learner decide on item i's semantic candidate: a
// candidate not served becomes a miss whose answer will label it.
func (c *Call) budgetDecide(i int, res *cache.Result) {
	if !c.budgeted() {
		return
	}
	m := c.e.metrics
	if res.Shadow != nil {
		c.budget.pending = append(c.budget.pending, budgetPending{item: i, entry: res.Shadow, weight: 1, source: budget.SourceShadow,
			cand: budget.Candidate{Namespace: c.budgetNS(), Entry: res.Shadow.Key, Kind: res.ScoreKind, Score: res.Score, Alias: res.ViaAlias}})
		return
	}
	if res.Tier != cache.TierSemantic {
		return
	}
	cand := budget.Candidate{Namespace: c.budgetNS(), Entry: res.Entry.Key, Kind: res.ScoreKind, Score: res.Score, Alias: res.ViaAlias}
	d := c.e.budget.Decide(cand)
	m.budget.decisions.WithLabelValues(m.Namespace(c.ns), d.Action.String()).Inc()
	if d.Action == budget.Serve {
		aliases := []string{cache.AliasIDOf(res.Entry.Key, c.items[i])}
		if res.AliasID != "" {
			aliases = append(aliases, res.AliasID)
		}
		c.e.recent.add(c.rid, res.Entry.ID, servedHit{cand: cand, aliases: aliases})
		return
	}
	// The candidate the learner did not serve, for clients and the
	// evaluation: its entry and score.
	c.header.Set("X-Semcache-Candidate", res.Entry.ID+"; score="+strconv.FormatFloat(float64(res.Score), 'f', 6, 32))
	switch d.Action {
	case budget.Explore:
		c.budget.explore = true
		c.header.Set("X-Semcache-Explore", "true")
		c.budget.pending = append(c.budget.pending, budgetPending{item: i, entry: res.Entry, cand: cand, weight: d.Weight(), source: budget.SourceExplore})
	default:
		c.budget.pending = append(c.budget.pending, budgetPending{item: i, entry: res.Entry, cand: cand, weight: d.Weight(), source: budget.SourceMiss})
	}
	res.Tier, res.Entry = cache.TierNone, nil
}

// budgetReason names why a call missed when the learner refused its
// candidate.
func (c *Call) budgetReason() {
	if len(c.budget.pending) == 0 || (c.reason != "new" && c.reason != "") {
		return
	}
	switch {
	case c.budget.explore:
		c.reason = "explore"
	case c.budget.pending[0].source == budget.SourceMiss:
		c.reason = "budget"
	}
}

// budgetObserve labels the call's pending candidates with the fresh
// answers, off the request path.
func (c *Call) budgetObserve(answers []cache.Answer, err error) {
	if err != nil || len(c.budget.pending) == 0 {
		return
	}
	pending := c.budget.pending
	c.budget.pending = nil
	for _, p := range pending {
		n := -1
		for k, i := range c.missing {
			if i == p.item {
				n = k
			}
		}
		if n < 0 || n >= len(answers) {
			continue
		}
		fresh := answers[n]
		if p.source == budget.SourceExplore {
			c.e.metrics.recordExplore(c.ns, c.items[p.item].Model, &fresh)
		}
		c.e.bwg.Add(1)
		go func() {
			defer c.e.bwg.Done()
			c.e.label(p, fresh.Text)
		}()
	}
}

// label compares a candidate's cached answer with the fresh one and
// records the label.
func (e *Engine) label(p budgetPending, fresh string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m := e.metrics
	same, err := e.cache.SameAnswer(ctx, p.entry.Answer.Text, fresh)
	if err != nil {
		m.budget.labels.WithLabelValues(m.Namespace(p.cand.Namespace), string(p.source), "error").Inc()
		e.log.Warn("budget: answer comparison failed", "namespace", p.cand.Namespace, "entry", p.entry.ID, "err", err)
		return
	}
	e.budget.Record(budget.Observation{Candidate: p.cand, Wrong: !same, Source: p.source, Weight: p.weight})
	m.budget.labels.WithLabelValues(m.Namespace(p.cand.Namespace), string(p.source), result(same)).Inc()
}

func result(right bool) string {
	if right {
		return "right"
	}
	return "wrong"
}

// WaitLabels waits until the labels of finished calls are recorded
// (tests and benchmarks).
func (e *Engine) WaitLabels() { e.bwg.Wait() }

// Budget returns the error-budget learner (nil without one).
func (e *Engine) Budget() *budget.Learner { return e.budget }

// Feedback marks a served semantic hit right or wrong.
type Feedback struct {
	Namespace string
	// EntryID or RequestID names the hit: the X-Semcache-Entry or the
	// X-Request-Id of the response that served it.
	EntryID, RequestID string
	Wrong              bool
}

// ErrUnknownHit is returned for feedback on no recent semantic hit.
var ErrUnknownHit = errors.New("engine: no recent semantic hit matches the feedback")

// ErrNoBudget is returned for feedback in a namespace without an error
// budget.
var ErrNoBudget = errors.New("engine: the namespace has no error budget")

// Feedback records a client's or operator's verdict on a served semantic
// hit: the learner learns from it, and a wrong hit's aliases (the one it
// created for the query's wording, and the one it matched through) are
// removed.
func (e *Engine) Feedback(ctx context.Context, f Feedback) error {
	if e.budget == nil {
		return ErrNoBudget
	}
	if _, ok := e.budget.Budget(f.Namespace); !ok {
		return ErrNoBudget
	}
	h, ok := e.recent.take(f.Namespace, f.RequestID, f.EntryID)
	if !ok {
		e.metrics.budget.feedback.WithLabelValues("unknown").Inc()
		return ErrUnknownHit
	}
	e.budget.Record(budget.Observation{Candidate: h.cand, Wrong: f.Wrong, Source: budget.SourceFeedback})
	m := e.metrics
	m.budget.labels.WithLabelValues(m.Namespace(f.Namespace), string(budget.SourceFeedback), result(!f.Wrong)).Inc()
	m.budget.feedback.WithLabelValues("applied").Inc()
	if f.Wrong {
		if err := e.cache.RemoveAliases(ctx, h.aliases); err != nil {
			return fmt.Errorf("engine: feedback: %w", err)
		}
	}
	return nil
}

// ParseFeedback reads an X-Semcache-Feedback header: "right" or "wrong",
// then "; entry=ID" or "; request=ID".
func ParseFeedback(v string) (Feedback, error) {
	parts := strings.Split(v, ";")
	var f Feedback
	switch strings.ToLower(strings.TrimSpace(parts[0])) {
	case "wrong":
		f.Wrong = true
	case "right":
	default:
		return f, fmt.Errorf("%w: X-Semcache-Feedback must start with right or wrong", ErrBadControl)
	}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		val = strings.TrimSpace(val)
		switch {
		case !ok || val == "":
			return f, fmt.Errorf("%w: X-Semcache-Feedback: %q is not key=value", ErrBadControl, p)
		case strings.EqualFold(k, "entry"):
			f.EntryID = val
		case strings.EqualFold(k, "request"):
			f.RequestID = val
		default:
			return f, fmt.Errorf("%w: X-Semcache-Feedback: unknown key %q", ErrBadControl, k)
		}
	}
	if f.EntryID == "" && f.RequestID == "" {
		return f, fmt.Errorf("%w: X-Semcache-Feedback needs entry=ID or request=ID", ErrBadControl)
	}
	return f, nil
}

// feedbackHeader applies the X-Semcache-Feedback header of a request (in
// the caller's namespace), off the request path.
func (c *Call) feedbackHeader(h http.Header) {
	v := h.Get("X-Semcache-Feedback")
	if v == "" || c.e.budget == nil {
		return
	}
	f, err := ParseFeedback(v)
	if err != nil {
		c.e.metrics.budget.feedback.WithLabelValues("malformed").Inc()
		if c.ctlErr == nil && c.ep != nil {
			c.ctlErr = err
		}
		return
	}
	f.Namespace = c.budgetNS()
	c.e.bwg.Add(1)
	go func() {
		defer c.e.bwg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.e.Feedback(ctx, f); err != nil && !errors.Is(err, ErrUnknownHit) && !errors.Is(err, ErrNoBudget) {
			c.logger().Warn("budget: feedback failed", "err", err)
		}
	}()
}

// servedHit is what feedback needs of a served semantic hit.
type servedHit struct {
	cand    budget.Candidate
	aliases []string
}

// recentHits remembers the last served semantic hits of budgeted
// namespaces, by request id and by entry id (the latest hit of an entry).
type recentHits struct {
	mu    sync.Mutex
	byKey map[string]*servedHit
	ring  []string
	next  int
}

// recentHitsSize bounds the hits feedback can refer to.
const recentHitsSize = 8192

func newRecentHits() *recentHits {
	return &recentHits{byKey: map[string]*servedHit{}, ring: make([]string, 2*recentHitsSize)}
}

func (r *recentHits) add(rid, entryID string, h servedHit) {
	r.mu.Lock()
	defer r.mu.Unlock()
	hp := &h
	for _, k := range []string{"r\x00" + h.cand.Namespace + "\x00" + rid, "e\x00" + h.cand.Namespace + "\x00" + entryID} {
		if old := r.ring[r.next]; old != "" {
			delete(r.byKey, old)
		}
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
		r.byKey[k] = hp
	}
}

// take finds a hit of ns by request id, else by entry id, and forgets it
// (a hit is judged once).
func (r *recentHits) take(ns, rid, entryID string) (servedHit, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var h *servedHit
	if rid != "" {
		h = r.byKey["r\x00"+ns+"\x00"+rid]
	}
	if h == nil && entryID != "" {
		h = r.byKey["e\x00"+ns+"\x00"+entryID]
	}
	if h == nil || h.cand.Entry == "" {
		return servedHit{}, false
	}
	out := *h
	h.cand.Entry = "" // judged
	return out, true
}
