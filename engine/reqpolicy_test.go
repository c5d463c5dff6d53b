package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/vectorstore/memory"
)

// policyEnv is an engine over a fresh cache with a settable clock and,
// when asked, the similarity tier of a default serve (lexical embedder,
// verifier, memory store).
type policyEnv struct {
	e   *Engine
	c   *cache.Cache
	reg *prometheus.Registry
	mu  sync.Mutex
	now time.Time
}

func (p *policyEnv) clock() time.Time { p.mu.Lock(); defer p.mu.Unlock(); return p.now }
func (p *policyEnv) advance(d time.Duration) {
	p.mu.Lock()
	p.now = p.now.Add(d)
	p.mu.Unlock()
}

func newPolicyEnv(t *testing.T, semantic bool, o Options) *policyEnv {
	t.Helper()
	p := &policyEnv{now: time.Unix(1_800_000_000, 0), reg: prometheus.NewRegistry()}
	copts := cache.Options{MaxBytes: 1 << 20, Now: p.clock}
	if semantic {
		emb, err := lexical.New(lexical.Options{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := memory.Open(context.Background(), memory.Options{Dimension: emb.Dimension()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		so, err := simtier.Options(simtier.Config{Embedder: emb, Index: st, Kind: "lexical"})
		if err != nil {
			t.Fatal(err)
		}
		copts.Semantic = &so
	}
	c, err := cache.Open(copts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	o.Cache, o.Metrics, o.Now = c, NewMetrics(p.reg, 10, nil), p.clock
	e, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	p.e, p.c = e, c
	return p
}

// callResult is what a client got from one call.
type callResult struct {
	status   int
	header   http.Header
	body     []byte
	upstream bool // the call reached the upstream
	outcome  string
	call     *Call
}

// do runs a chat request through every phase; the upstream answers
// content (JSON).
func (p *policyEnv) do(t *testing.T, hdr http.Header, body, content string) callResult {
	t.Helper()
	if hdr == nil {
		hdr = http.Header{}
	}
	c := p.e.Begin(FrontHTTP, http.MethodPost, chatPath, hdr)
	defer c.End()
	plan := c.Plan(context.Background(), []byte(body), true)
	if plan.Reply != nil {
		return callResult{status: plan.Reply.Status, header: plan.Reply.Header, body: plan.Reply.Body, outcome: c.Outcome(), call: c}
	}
	answer := fmt.Sprintf(`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":%q},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`, content)
	r := c.Upstream(http.StatusOK, http.Header{"Content-Type": {"application/json"}})
	out := []byte(answer)
	if r.Observe {
		if b, replaced := c.Write(out); replaced {
			out = b
		}
		if tail := c.Finish(true); tail != nil {
			out = tail
		}
	} else {
		c.Finish(true)
	}
	return callResult{status: http.StatusOK, header: plan.Upstream.Header, body: out, upstream: true, outcome: c.Outcome(), call: c}
}

func chatBody(prompt string, extra ...string) string {
	return `{"model":"m",` + strings.Join(append(extra, ""), ",") + `"messages":[{"role":"user","content":` + fmt.Sprintf("%q", prompt) + `}]}`
}

func counter(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, l := range m.GetLabel() {
				got[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if got[k] != v {
					continue next
				}
			}
			return metricValue(m), true
		}
	}
	return 0, false
}

func metricValue(m *dto.Metric) float64 { return m.GetCounter().GetValue() }

func TestParseControlsFreshness(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		want    Controls
		wantErr bool
	}{
		{"max-age", http.Header{"Cache-Control": {"max-age=60"}}, Controls{MaxAge: time.Minute, HasMaxAge: true}, false},
		{"quoted max-age", http.Header{"Cache-Control": {`max-age="60"`}}, Controls{MaxAge: time.Minute, HasMaxAge: true}, false},
		{"s-maxage wins over max-age", http.Header{"Cache-Control": {"s-maxage=30, max-age=600"}}, Controls{MaxAge: 30 * time.Second, HasMaxAge: true}, false},
		{"s-maxage wins in either order", http.Header{"Cache-Control": {"max-age=600", "s-maxage=30"}}, Controls{MaxAge: 30 * time.Second, HasMaxAge: true}, false},
		{"max-age=0 refreshes", http.Header{"Cache-Control": {"max-age=0"}}, Controls{HasMaxAge: true, NoCache: true}, false},
		{"huge max-age", http.Header{"Cache-Control": {"max-age=99999999999999999999"}}, Controls{MaxAge: maxAgeCap, HasMaxAge: true}, false},
		{"bad max-age ignored", http.Header{"Cache-Control": {"max-age=soon"}}, Controls{ignored: ignoredMaxAge}, false},
		{"negative max-age ignored", http.Header{"Cache-Control": {"max-age=-1"}}, Controls{ignored: ignoredMaxAge}, false},
		{"only-if-cached", http.Header{"Cache-Control": {"only-if-cached"}}, Controls{OnlyIfCached: true}, false},
		{"explicit header wins", http.Header{"X-Semcache-Cache-Control": {"only-if-cached, max-age=5"}, "Cache-Control": {"max-age=60"}},
			Controls{OnlyIfCached: true, MaxAge: 5 * time.Second, HasMaxAge: true}, false},
		{"threshold", http.Header{"X-Semcache-Threshold": {"0.9"}}, Controls{Threshold: Threshold{Similarity: 0.9}}, false},
		{"bad threshold ignored", http.Header{"X-Semcache-Threshold": {"high"}}, Controls{ignored: ignoredThreshold}, false},
		{"sub-namespace", http.Header{"X-Semcache-Namespace": {"drafts"}}, Controls{SubNamespace: "drafts"}, false},
		{"sub-namespace with a slash", http.Header{"X-Semcache-Namespace": {"../tenant:other"}}, Controls{}, true},
		{"two sub-namespaces", http.Header{"X-Semcache-Namespace": {"a", "b"}}, Controls{}, true},
	}
	for _, tt := range tests {
		got, err := ParseControls(tt.h, time.Hour)
		if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
			t.Errorf("%s: %+v, %v; want %+v", tt.name, got, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrBadControl) {
			t.Errorf("%s: %v does not wrap ErrBadControl", tt.name, err)
		}
	}
}

func TestParseThreshold(t *testing.T) {
	tests := []struct {
		in   string
		want Threshold
		ok   bool
	}{
		{"0.9", Threshold{Similarity: 0.9}, true},
		{" 1 ", Threshold{Similarity: 1}, true},
		{"similarity=0.8", Threshold{Similarity: 0.8}, true},
		{"score=0.95", Threshold{Score: 0.95}, true},
		{"similarity=0.8, score=0.95", Threshold{Similarity: 0.8, Score: 0.95}, true},
		{"Score=0.5", Threshold{Score: 0.5}, true},
		{"", Threshold{}, false},
		{"0", Threshold{}, false},
		{"1.5", Threshold{}, false},
		{"-0.2", Threshold{}, false},
		{"NaN", Threshold{}, false},
		{"high", Threshold{}, false},
		{"similarity=0.8, similarity=0.9", Threshold{}, false},
		{"cosine=0.8", Threshold{}, false},
	}
	for _, tt := range tests {
		got, err := ParseThreshold(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseThreshold(%q) = %+v, %v; want %+v ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseSubNamespace(t *testing.T) {
	for _, tt := range []struct {
		in string
		ok bool
	}{
		{"drafts", true}, {"team-a.v2_x", true}, {"A1", true}, {strings.Repeat("a", MaxSubNamespace), true},
		{"", false}, {strings.Repeat("a", MaxSubNamespace+1), false}, {"a/b", false}, {"..", false}, {".hidden", false},
		{"tenant:acme", false}, {"a b", false}, {"é", false}, {"-x", false},
	} {
		if _, err := ParseSubNamespace(tt.in); (err == nil) != tt.ok {
			t.Errorf("ParseSubNamespace(%q): %v, want ok=%v", tt.in, err, tt.ok)
		}
	}
}

// TestRequestMaxAge: an entry older than the request's max-age is a miss,
// and the fresh answer replaces it.
func TestRequestMaxAge(t *testing.T) {
	p := newPolicyEnv(t, false, Options{})
	body := chatBody("what is the capital of France")
	if r := p.do(t, nil, body, "Paris (first)"); !r.upstream {
		t.Fatal("first call not a miss")
	}
	p.advance(2 * time.Minute)
	tests := []struct {
		name, cc string
		upstream bool
		reason   string
	}{
		{"no max-age", "", false, ""},
		{"young enough", "max-age=300", false, ""},
		{"s-maxage young enough", "s-maxage=300, max-age=10", false, ""},
		{"too old", "max-age=60", true, "stale"},
		{"max-age=0", "max-age=0", true, "no_cache"},
	}
	for _, tt := range tests {
		r := p.do(t, http.Header{"Cache-Control": {tt.cc}}, body, "Paris ("+tt.name+")")
		if r.upstream != tt.upstream {
			t.Fatalf("%s: upstream %v, want %v (X-Semcache %q)", tt.name, r.upstream, tt.upstream, r.header.Get("X-Semcache"))
		}
		if tt.reason != "" && r.call.reason != tt.reason {
			t.Errorf("%s: reason %q, want %q", tt.name, r.call.reason, tt.reason)
		}
		if tt.upstream {
			// The fresh answer replaced the entry: it is young now.
			again := p.do(t, http.Header{"Cache-Control": {"max-age=60"}}, body, "unused")
			if again.upstream || !strings.Contains(string(again.body), tt.name) {
				t.Fatalf("%s: refreshed entry not served: %s", tt.name, again.body)
			}
			p.advance(2 * time.Minute)
		}
	}
}

func TestOnlyIfCached(t *testing.T) {
	p := newPolicyEnv(t, false, Options{})
	body := chatBody("only if cached")
	hdr := http.Header{"Cache-Control": {"only-if-cached"}}
	r := p.do(t, hdr, body, "x")
	var e struct {
		Error struct {
			Message, Type string
			Code          *string
		}
	}
	if r.upstream || r.status != http.StatusGatewayTimeout || json.Unmarshal(r.body, &e) != nil || e.Error.Code == nil || *e.Error.Code != "cache_miss" || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("miss: status %d upstream %v body %s", r.status, r.upstream, r.body)
	}
	if r.header.Get("X-Semcache") != "miss" || r.header.Get("Content-Type") != "application/json" || r.outcome != OutcomeMiss {
		t.Fatalf("miss headers %v outcome %s", r.header, r.outcome)
	}
	p.do(t, nil, body, "stored")
	if hit := p.do(t, hdr, body, "x"); hit.status != http.StatusOK || hit.upstream || hit.header.Get("X-Semcache") != "hit-exact" {
		t.Fatalf("hit: %d %v", hit.status, hit.header)
	}
	for name, h := range map[string]http.Header{
		"with no-cache":        {"Cache-Control": {"only-if-cached, no-cache"}},
		"with an old max-age":  {"Cache-Control": {"only-if-cached, max-age=0"}},
		"a never-cached query": {"Cache-Control": {"only-if-cached"}},
	} {
		b := body
		if name == "a never-cached query" {
			b = chatBody("only if cached", `"n":2`)
		}
		if r := p.do(t, h, b, "x"); r.status != http.StatusGatewayTimeout || r.upstream {
			t.Errorf("%s: status %d upstream %v", name, r.status, r.upstream)
		}
	}
}

// TestThresholdRaiseOnly: X-Semcache-Threshold can make a namespace's
// semantic hits stricter, never looser; a lower or malformed value is
// ignored and counted.
func TestThresholdRaiseOnly(t *testing.T) {
	// Each case gets a fresh cache: a served paraphrase becomes an alias
	// (similarity 1 next time) and a miss stores its answer.
	setup := func(t *testing.T) *policyEnv {
		p := newPolicyEnv(t, true, Options{})
		p.do(t, nil, chatBody("How do I reset my password on the website?"), "Click 'Forgot password'.")
		if err := p.c.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		return p
	}
	para := chatBody("how do i reset my website password")
	p := setup(t)
	base := p.do(t, nil, para, "x")
	if base.header.Get("X-Semcache") != "hit-semantic" {
		t.Fatalf("paraphrase not a semantic hit: %v", base.header)
	}
	var sim, score float32
	fmt.Sscan(base.header.Get("X-Semcache-Similarity"), &sim)
	fmt.Sscan(base.header.Get("X-Semcache-Score"), &score)
	cut := p.c.Cutoffs("anonymous")
	if !cut.Enabled || sim <= cut.Similarity || sim >= 0.999 || score <= cut.Score || score >= 0.999 {
		t.Fatalf("similarity %v score %v, cut-offs %+v: the test needs a hit between the cut-offs and 1", sim, score, cut)
	}
	f := func(x float32) string { return fmt.Sprintf("%.4f", x) }
	tests := []struct {
		name, value    string
		hit            bool
		lower, invalid float64
		query          string // default: the paraphrase
	}{
		{"none", "", true, 0, 0, ""},
		{"similarity raised below the hit", f(cut.Similarity + (sim-cut.Similarity)/2), true, 0, 0, ""},
		{"similarity raised above the hit", f(sim + 0.0002), false, 0, 0, ""},
		{"score raised above the hit", "score=" + f(score+0.0002), false, 0, 0, ""},
		{"score raised below the hit", "score=" + f(cut.Score+(score-cut.Score)/2), true, 0, 0, ""},
		{"equal to the namespace's: not lower", f(cut.Similarity), true, 0, 0, ""},
		{"lower similarity ignored", f(cut.Similarity / 2), true, 1, 0, ""},
		{"lower score ignored", "score=" + f(cut.Score/2), true, 1, 0, ""},
		{"lower ignored, higher kept", "similarity=" + f(cut.Similarity/2) + ",score=" + f(score+0.0002), false, 1, 0, ""},
		{"malformed ignored", "strict", true, 0, 1, ""},
		{"out of range ignored", "1.5", true, 0, 1, ""},
		// A candidate the namespace's cut-off rejects stays rejected.
		{"lower never loosens the score", "similarity=0.01,score=0.01", false, 1, 0, "how to reset password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := setup(t)
			for _, l := range [][2]string{{"threshold", "lower"}, {"threshold", "invalid"}, {"cache_control", "invalid"}} {
				if n, ok := counter(t, p.reg, "semcache_policy_ignored_total", map[string]string{"header": l[0], "reason": l[1]}); !ok || n != 0 {
					t.Fatalf("%v not initialised at 0: %v %v", l, n, ok)
				}
			}
			h := http.Header{}
			if tt.value != "" {
				h.Set("X-Semcache-Threshold", tt.value)
			}
			q := para
			if tt.query != "" {
				q = chatBody(tt.query)
			}
			r := p.do(t, h, q, "fresh")
			if hit := r.header.Get("X-Semcache") == "hit-semantic"; hit != tt.hit {
				t.Errorf("%s: X-Semcache %q, want hit=%v", tt.value, r.header.Get("X-Semcache"), tt.hit)
			}
			if n, _ := counter(t, p.reg, "semcache_policy_ignored_total", map[string]string{"header": "threshold", "reason": "lower"}); n != tt.lower {
				t.Errorf("lower counted %v, want %v", n, tt.lower)
			}
			if n, _ := counter(t, p.reg, "semcache_policy_ignored_total", map[string]string{"header": "threshold", "reason": "invalid"}); n != tt.invalid {
				t.Errorf("invalid counted %v, want %v", n, tt.invalid)
			}
		})
	}
}

// TestThresholdTightensBudget: in a namespace with an error budget, the
// score is compared with the learner's floor; a higher one narrows what
// the learner may serve.
func TestThresholdTightensBudget(t *testing.T) {
	p := newPolicyEnv(t, true, Options{})
	l, err := budget.New(budget.Options{Default: 0.05, Store: p.c.BudgetStore()})
	if err != nil {
		t.Fatal(err)
	}
	p.reg = prometheus.NewRegistry()
	if p.e, err = New(Options{Cache: p.c, Metrics: NewMetrics(p.reg, 10, nil), Budget: l, Now: p.clock}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.e.WaitLabels)
	floor := l.ScoreFloor()
	for _, tt := range []struct {
		value     string
		wantScore float32
		lower     float64
	}{
		{fmt.Sprintf("score=%.4f", floor/2), 0, 1},
		{fmt.Sprintf("score=%.4f", min(1, floor+0.1)), min(1, floor+0.1), 1},
	} {
		c := p.e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{"X-Semcache-Threshold": {tt.value}})
		c.raiseThreshold()
		if d := c.rp.minScore - tt.wantScore; d > 1e-4 || d < -1e-4 {
			t.Errorf("%s: min score %v, want %v", tt.value, c.rp.minScore, tt.wantScore)
		}
		c.End()
		if n, _ := counter(t, p.reg, "semcache_policy_ignored_total", map[string]string{"header": "threshold", "reason": "lower"}); n != tt.lower {
			t.Errorf("%s: lower counted %v, want %v", tt.value, n, tt.lower)
		}
	}
}

// TestSubNamespaceIsolation: X-Semcache-Namespace narrows a tenant into a
// sub-namespace that never reads its parent's entries, a sibling's, or
// another tenant's, in either tier.
func TestSubNamespaceIsolation(t *testing.T) {
	nsr, err := NewNamespacer([]Tenant{{Name: "acme", Keys: []string{"k-acme"}}, {Name: "globex", Keys: []string{"k-globex"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	p := newPolicyEnv(t, true, Options{Namespaces: nsr})
	ctx := context.Background()
	hdr := func(key, sub string) http.Header {
		h := http.Header{"Authorization": {"Bearer " + key}}
		if sub != "" {
			h.Set("X-Semcache-Namespace", sub)
		}
		return h
	}
	q, para := "How do I reset my password on the website?", "how do i reset my password on the website"
	parent := p.do(t, hdr("k-acme", ""), chatBody(q), "acme's answer")
	if parent.call.ns != "tenant:acme" {
		t.Fatalf("namespace %q", parent.call.ns)
	}
	drafts := p.do(t, hdr("k-acme", "drafts"), chatBody(q), "drafts' answer")
	if !drafts.upstream || drafts.call.ns != "tenant:acme/drafts" {
		t.Fatalf("the sub-namespace read its parent's entry (upstream %v, ns %q)", drafts.upstream, drafts.call.ns)
	}
	if err := p.c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key, sub, prompt string
		want                   string // the answer served, "" for a miss
	}{
		{"parent exact", "k-acme", "", q, "acme's answer"},
		{"parent paraphrase", "k-acme", "", para, "acme's answer"},
		{"sub exact", "k-acme", "drafts", q, "drafts' answer"},
		{"sub paraphrase", "k-acme", "drafts", para, "drafts' answer"},
		{"sibling exact", "k-acme", "other", q, ""},
		{"sibling paraphrase", "k-acme", "other", para, ""},
		{"another tenant's same sub-namespace", "k-globex", "drafts", q, ""},
		{"another tenant's paraphrase", "k-globex", "drafts", para, ""},
		{"another tenant", "k-globex", "", q, ""},
	}
	for _, tt := range tests {
		r := p.do(t, hdr(tt.key, tt.sub), chatBody(tt.prompt), "fresh")
		switch {
		case tt.want == "" && (strings.Contains(string(r.body), "acme's answer") || strings.Contains(string(r.body), "drafts' answer")):
			t.Errorf("%s: served %s", tt.name, r.body)
		case tt.want != "" && (r.upstream || !strings.Contains(string(r.body), tt.want)):
			t.Errorf("%s: upstream %v body %s, want %q", tt.name, r.upstream, r.body, tt.want)
		}
	}
	// A malformed value is refused (400), never folded into the parent.
	bad := p.do(t, hdr("k-acme", "../globex"), chatBody(q), "x")
	if bad.status != http.StatusBadRequest || bad.upstream || !strings.Contains(string(bad.body), "X-Semcache-Namespace") {
		t.Fatalf("bad sub-namespace: %d %s", bad.status, bad.body)
	}
	// The header never goes upstream.
	c := p.e.Begin(FrontHTTP, http.MethodPost, chatPath, hdr("k-acme", "drafts"))
	m := c.UpstreamHeader(hdr("k-acme", "drafts"))
	c.End()
	if !strings.Contains(strings.Join(m.Remove, ","), "X-Semcache-Namespace") {
		t.Fatalf("X-Semcache-Namespace not removed: %v", m.Remove)
	}
}

func TestSharedNamespaceRejectsSlash(t *testing.T) {
	if _, err := NewNamespacer(nil, "team/a"); err == nil {
		t.Fatal("a shared namespace with a slash was accepted")
	}
}
