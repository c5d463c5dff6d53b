package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/vectorstore/memory"
)

// deletions records the ids an index was asked to delete.
type deletions struct {
	cache.Index
	mu  sync.Mutex
	ids []string
}

func (d *deletions) Delete(ctx context.Context, ids []string) error {
	d.mu.Lock()
	d.ids = append(d.ids, ids...)
	d.mu.Unlock()
	return d.Index.Delete(ctx, ids)
}

func (d *deletions) deleted() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.ids...)
}

// budgetStack is semcache with an error budget (calls without a key are
// in namespace "anonymous") over HTTP,
// a lexical similarity tier, and an upstream that counts its calls.
type budgetStack struct {
	srv      *httptest.Server
	eng      *engine.Engine
	learner  *budget.Learner
	reg      *prometheus.Registry
	idx      *deletions
	upstream atomic.Int64
	// draw is what the learner's random source returns next.
	draw atomic.Value
}

func newBudgetStack(t *testing.T) *budgetStack {
	t.Helper()
	s := &budgetStack{reg: prometheus.NewRegistry()}
	s.draw.Store(0.99)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.upstream.Add(1)
		var req struct {
			Messages []struct{ Content string } `json:"messages"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		w.Header().Set("Content-Type", "application/json")
		// The same answer for every wording of the router question.
		json.NewEncoder(w).Encode(map[string]any{"id": "c", "object": "chat.completion", "model": "m",
			"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
				"message": map[string]any{"role": "assistant", "content": "Hold the reset button for ten seconds."}}},
			"usage": map[string]any{"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}})
	}))
	t.Cleanup(up.Close)
	emb, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	mem, err := memory.Open(context.Background(), memory.Options{Dimension: emb.Dimension()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	s.idx = &deletions{Index: mem}
	sem, err := simtier.Options(simtier.Config{Embedder: emb, Index: s.idx, Kind: "lexical", EmbedTimeout: 5 * time.Second, SearchTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 22, Dir: t.TempDir(), Semantic: &sem})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	s.learner, err = budget.New(budget.Options{Default: 0.05, Store: c.BudgetStore(), MaxExploreFraction: 0.5,
		Rand: func() float64 { return s.draw.Load().(float64) }})
	if err != nil {
		t.Fatal(err)
	}
	// The namespace has seen many right candidates at every high score:
	// its curve admits them.
	for range 3000 {
		for _, kind := range []string{"request", "description"} {
			for _, score := range []float32{0.95, 0.99, 0.995, 0.999, 0.9995, 0.9999} {
				c := budget.Candidate{Namespace: "anonymous", Kind: kind, Score: score}
				s.learner.Decide(c)
				s.learner.Record(budget.Observation{Candidate: c, Source: budget.SourceMiss, Weight: 1})
			}
		}
	}
	m := engine.NewMetrics(s.reg, 0, map[string]engine.Price{"m": {PromptPerMillion: 1e6, CompletionPerMillion: 2e6}})
	m.WatchBudget(s.learner)
	s.eng, err = engine.New(engine.Options{Cache: c, Metrics: m, Budget: s.learner})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(up.URL + "/v1")
	srv, err := NewServer(ServerOptions{Engine: s.eng, Upstream: u})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(srv)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *budgetStack) ask(t *testing.T, prompt string, hdr http.Header) *http.Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": prompt}}})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header[k] = v
	}
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%q: status %d", prompt, resp.StatusCode)
	}
	s.eng.WaitLabels()
	return resp
}

// counter reads a counter of the registry by name and labels.
func (s *budgetStack) counter(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}

// TestBudgetExploreServeFeedback: in a namespace with an error budget, a
// would-be semantic hit is explored (sent upstream, X-Semcache-Explore,
// counted, labelled by comparing the answers) or served; a wrong mark by
// the X-Semcache-Feedback header of a later call is recorded and removes
// the alias the hit made; metrics count all of it.
func TestBudgetExploreServeFeedback(t *testing.T) {
	s := newBudgetStack(t)
	const q = "How do I reset my home router?"
	if r := s.ask(t, q, nil); r.Header.Get("X-Semcache") != "miss" || s.upstream.Load() != 1 {
		t.Fatalf("first call: %s, upstream %d", r.Header.Get("X-Semcache"), s.upstream.Load())
	}

	// An exploration: the draw is under every exploration probability.
	s.draw.Store(0.0)
	r := s.ask(t, "how do I reset my home router", nil)
	if r.Header.Get("X-Semcache-Explore") != "true" || r.Header.Get("X-Semcache") != "miss" || s.upstream.Load() != 2 {
		t.Fatalf("exploration: X-Semcache %q, explore %q, upstream %d; %v; %+v", r.Header.Get("X-Semcache"), r.Header.Get("X-Semcache-Explore"), s.upstream.Load(), r.Header, s.learner.Stats("anonymous"))
	}
	if !strings.Contains(r.Header.Get("X-Semcache-Candidate"), "score=") {
		t.Errorf("no candidate named: %q", r.Header.Get("X-Semcache-Candidate"))
	}
	labels := map[string]string{"source": "explore", "result": "right"}
	if got := s.counter(t, "semcache_budget_labels_total", labels); got != 1 {
		t.Errorf("explore labels (right) = %v, want 1 (the answers are the same)", got)
	}
	if got := s.counter(t, "semcache_budget_exploration_calls_total", nil); got != 1 {
		t.Errorf("exploration calls = %v", got)
	}
	if got := s.counter(t, "semcache_budget_exploration_cost_usd_total", nil); got <= 0 {
		t.Errorf("exploration cost = %v", got)
	}
	if got := s.counter(t, "semcache_budget_decisions_total", map[string]string{"decision": "explore"}); got != 1 {
		t.Errorf("explore decisions = %v", got)
	}

	// A hit served: the draw is over every exploration probability.
	s.draw.Store(0.99)
	r = s.ask(t, "How do I reset my home router ?", nil)
	if r.Header.Get("X-Semcache") != "hit-semantic" || r.Header.Get("X-Semcache-Explore") != "" || s.upstream.Load() != 2 {
		t.Fatalf("serve: X-Semcache %q, explore %q, upstream %d; %v; %+v", r.Header.Get("X-Semcache"), r.Header.Get("X-Semcache-Explore"), s.upstream.Load(), r.Header, s.learner.Stats("anonymous"))
	}
	entry := r.Header.Get("X-Semcache-Entry")
	if got := s.counter(t, "semcache_budget_decisions_total", map[string]string{"decision": "serve"}); got != 1 {
		t.Errorf("serve decisions = %v", got)
	}

	// The client marks it wrong on its next call.
	before := s.learner.Stats("anonymous").Labels[budget.SourceFeedback]
	s.ask(t, "What is the capital of Peru?", http.Header{"X-Semcache-Feedback": {"wrong; entry=" + entry}})
	deadline := time.Now().Add(5 * time.Second)
	for s.counter(t, "semcache_budget_feedback_total", map[string]string{"result": "applied"}) < 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	s.eng.WaitLabels()
	if got := s.counter(t, "semcache_budget_feedback_total", map[string]string{"result": "applied"}); got != 1 {
		t.Fatalf("feedback applied = %v", got)
	}
	if after := s.learner.Stats("anonymous").Labels[budget.SourceFeedback]; after[1] != before[1]+1 {
		t.Errorf("feedback labels (right, wrong) %v, before %v", after, before)
	}
	if got := s.counter(t, "semcache_budget_labels_total", map[string]string{"source": "feedback", "result": "wrong"}); got != 1 {
		t.Errorf("feedback wrong labels = %v", got)
	}
	if len(s.idx.deleted()) == 0 {
		t.Error("the wrong hit's alias was not removed")
	}
	// Feedback on the same hit again is unknown (a hit is judged once);
	// malformed feedback is refused with a 400.
	s.ask(t, "What is the capital of Chile?", http.Header{"X-Semcache-Feedback": {"wrong; entry=" + entry}})
	if got := s.counter(t, "semcache_budget_feedback_total", map[string]string{"result": "unknown"}); got != 1 {
		t.Errorf("feedback on a judged hit: unknown = %v", got)
	}
	body, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": "hello"}}})
	req, _ := http.NewRequest(http.MethodPost, s.srv.URL+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("X-Semcache-Feedback", "sideways")
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed feedback: status %d, want 400", resp.StatusCode)
	}
	// The gauges of the namespace.
	if got := s.counter(t, "semcache_budget_error_budget", nil); got != 0.05 {
		t.Errorf("budget gauge = %v", got)
	}
}
