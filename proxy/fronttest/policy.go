package fronttest

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/engine"
)

// The per-request and per-route policy, on every front.

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var pb dto.Metric
	if err := c.Write(&pb); err != nil {
		t.Fatal(err)
	}
	return pb.GetCounter().GetValue()
}

// fakeClock is a settable clock for freshness scenarios.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func testFreshness(t *testing.T, f Factory) {
	clk := &fakeClock{t: time.Now()}
	env := f(t, Options{Now: clk.now})
	ctx := context.Background()
	for _, stream := range []bool{false, true} {
		body := chatAPI.body("how fresh is this answer", stream)
		first := env.Front.Do(ctx, post(chatAPI.path, "k", body))
		if first.Header.Get("X-Semcache") != "miss" && !stream {
			t.Fatalf("first: %q", first.Header.Get("X-Semcache"))
		}
		answer(t, chatAPI, first)
		clk.add(2 * time.Minute)
		steps := []struct {
			cc, want string
		}{
			{"max-age=300", "hit-exact"},
			{"s-maxage=300, max-age=10", "hit-exact"},
			{"max-age=60", "miss"}, // too old: refreshed
			{"max-age=60", "hit-exact"},
			{"max-age=0", "miss"},
		}
		for _, s := range steps {
			r := env.Front.Do(ctx, post(chatAPI.path, "k", body, "Cache-Control", s.cc))
			if got := r.Header.Get("X-Semcache"); got != s.want {
				t.Fatalf("stream=%v %s: X-Semcache %q, want %s", stream, s.cc, got, s.want)
			}
			if (s.want == "miss") != (r.Upstream != nil) {
				t.Fatalf("stream=%v %s: upstream reached %v", stream, s.cc, r.Upstream != nil)
			}
			answer(t, chatAPI, r)
		}
		clk.add(2 * time.Minute)
	}
}

func testOnlyIfCached(t *testing.T, f Factory) {
	for _, a := range []api{chatAPI, embeddingsAPI, completionsAPI} {
		t.Run(a.name, func(t *testing.T) {
			env := f(t, Options{})
			ctx := context.Background()
			body := a.body("only if cached, please", false)
			miss := env.Front.Do(ctx, post(a.path, "k", body, "Cache-Control", "only-if-cached"))
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Code    *string `json:"code"`
				} `json:"error"`
			}
			if miss.Status != http.StatusGatewayTimeout || miss.Upstream != nil || json.Unmarshal(miss.Body, &e) != nil ||
				e.Error.Code == nil || *e.Error.Code != "cache_miss" || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("miss: status %d, upstream %v, body %.300s", miss.Status, miss.Upstream != nil, miss.Body)
			}
			if miss.Header.Get("X-Semcache") != "miss" || !strings.HasPrefix(miss.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("miss headers %v", miss.Header)
			}
			if n := a.calls(env.Upstream); n > 0 {
				t.Fatalf("the upstream was called %d times", n)
			}
			answer(t, a, env.Front.Do(ctx, post(a.path, "k", body)))
			hit := env.Front.Do(ctx, post(a.path, "k", body, "Cache-Control", "only-if-cached"))
			if hit.Status != http.StatusOK || hit.Header.Get("X-Semcache") != "hit-exact" {
				t.Fatalf("hit: %d %q", hit.Status, hit.Header.Get("X-Semcache"))
			}
		})
	}
}

func testThreshold(t *testing.T, f Factory) {
	env := f(t, Options{Semantic: true})
	ctx := context.Background()
	answer(t, chatAPI, env.Front.Do(ctx, post(chatAPI.path, "k", chatAPI.body("How do I reset my password on the website?", false))))
	if err := env.Cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	para := chatAPI.body("how do i reset my website password", false)
	strict := env.Front.Do(ctx, post(chatAPI.path, "k", para, "X-Semcache-Threshold", "0.999"))
	if strict.Header.Get("X-Semcache") != "miss" || strict.Upstream == nil {
		t.Fatalf("a stricter threshold still served: %q", strict.Header.Get("X-Semcache"))
	}
	if strict.Upstream.Header.Get("X-Semcache-Threshold") != "" {
		t.Fatal("X-Semcache-Threshold reached the upstream")
	}
	// The strict miss stored the paraphrase's own answer: ask another one.
	para2 := chatAPI.body("reset website password how", false)
	lower := env.Front.Do(ctx, post(chatAPI.path, "k", para2, "X-Semcache-Threshold", "score=0.01"))
	if lower.Header.Get("X-Semcache") != "hit-semantic" {
		t.Fatalf("a lower threshold changed the answer: %q", lower.Header.Get("X-Semcache"))
	}
	if n := counterValue(t, env.Metrics.PolicyIgnored().WithLabelValues("threshold", "lower")); n != 1 {
		t.Fatalf("lower threshold counted %v times, want 1", n)
	}
	env.Front.Do(ctx, post(chatAPI.path, "k", para2, "X-Semcache-Threshold", "very"))
	if n := counterValue(t, env.Metrics.PolicyIgnored().WithLabelValues("threshold", "invalid")); n != 1 {
		t.Fatalf("invalid threshold counted %v times, want 1", n)
	}
}

func testSubNamespace(t *testing.T, f Factory) {
	env := f(t, Options{Semantic: true})
	ctx := context.Background()
	q := "How do I reset my password on the website?"
	answer(t, chatAPI, env.Front.Do(ctx, post(chatAPI.path, "k", chatAPI.body(q, false))))
	if err := env.Cache.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sub := func(name, prompt string) *Response {
		return env.Front.Do(ctx, post(chatAPI.path, "k", chatAPI.body(prompt, false), "X-Semcache-Namespace", name))
	}
	// Each sub-namespace asks once: a miss stores its answer there.
	for i, p := range []string{q, "how do i reset my website password"} {
		if r := sub([]string{"drafts", "notes"}[i], p); r.Header.Get("X-Semcache") != "miss" || r.Upstream == nil {
			t.Fatalf("the sub-namespace read its parent's entry (%q): %q", p, r.Header.Get("X-Semcache"))
		} else if r.Upstream.Header.Get("X-Semcache-Namespace") != "" {
			t.Fatal("X-Semcache-Namespace reached the upstream")
		}
	}
	if r := sub("drafts", q); r.Header.Get("X-Semcache") != "hit-exact" {
		t.Fatalf("the sub-namespace's own entry: %q", r.Header.Get("X-Semcache"))
	}
	if r := sub("other", q); r.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("a sibling sub-namespace: %q", r.Header.Get("X-Semcache"))
	}
	if r := env.Front.Do(ctx, post(chatAPI.path, "k2", chatAPI.body(q, false), "X-Semcache-Namespace", "drafts")); r.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("another key's sub-namespace: %q", r.Header.Get("X-Semcache"))
	}
	bad := sub("../k", q)
	if env.Name == engine.FrontHTTP.Name {
		if bad.Status != http.StatusBadRequest || bad.Upstream != nil || !strings.Contains(string(bad.Body), "X-Semcache-Namespace") {
			t.Fatalf("bad sub-namespace: %d %.200s", bad.Status, bad.Body)
		}
	} else if strings.HasPrefix(bad.Header.Get("X-Semcache"), "hit") {
		// A filter front passes a request it cannot take as it came:
		// uncached, never folded into the parent.
		t.Fatalf("bad sub-namespace served from the cache: %v", bad.Header)
	}
}

func testCacheRules(t *testing.T, f Factory) {
	yes := true
	hot := 0.7
	env := f(t, Options{Rules: []engine.RuleConfig{
		{Name: "pii", When: engine.RuleWhen{PII: &yes}, Action: engine.RuleBypass},
		{Name: "hot", When: engine.RuleWhen{TemperatureAbove: &hot}, Match: engine.RuleMatch{Routes: []string{"chat"}}, Action: engine.RuleNoStore},
		{Name: "legacy", Match: engine.RuleMatch{Routes: []string{"completions"}}, TTL: time.Minute},
	}})
	ctx := context.Background()
	for _, r := range []struct{ name, action string }{{"pii", "bypass"}, {"hot", "no_store"}, {"legacy", "ttl"}} {
		if n := counterValue(t, env.Metrics.RulesApplied().WithLabelValues(r.name, r.action)); n != 0 {
			t.Fatalf("rule %s starts at %v", r.name, n)
		}
	}
	cases := []struct {
		name      string
		a         api
		body      []byte
		rule      string
		first     string // X-Semcache of the first and second call
		second    string
		wantCount float64
	}{
		{"pii", chatAPI, chatAPI.body("Email the summary to jane.doe@example.com", false), "pii", "bypass", "bypass", 2},
		{"pii in embeddings", embeddingsAPI, embeddingsAPI.body("call +1 415 555 2671", false), "pii", "bypass", "bypass", 4},
		{"hot", chatAPI, jsonBody(map[string]any{"model": "sim-gpt", "temperature": 0.9, "messages": []map[string]string{{"role": "user", "content": "a poem"}}}), "hot", "miss", "miss", 2},
		{"default temperature", responsesAPI, responsesAPI.body("a poem", false), "", "miss", "hit-exact", 0},
		{"legacy", completionsAPI, completionsAPI.body("once", false), "legacy", "miss", "hit-exact", 2},
	}
	for _, c := range cases {
		for i, want := range []string{c.first, c.second} {
			r := env.Front.Do(ctx, post(c.a.path, "k", c.body))
			if got := r.Header.Get("X-Semcache"); got != want || r.Header.Get("X-Semcache-Rule") != c.rule {
				t.Fatalf("%s call %d: X-Semcache %q rule %q, want %q %q", c.name, i+1, got, r.Header.Get("X-Semcache-Rule"), want, c.rule)
			}
			if want == "bypass" && r.Upstream == nil {
				t.Fatalf("%s: a bypassed request did not reach the upstream", c.name)
			}
		}
		if c.rule != "" {
			action := map[string]string{"pii": "bypass", "hot": "no_store", "legacy": "ttl"}[c.rule]
			if n := counterValue(t, env.Metrics.RulesApplied().WithLabelValues(c.rule, action)); n != c.wantCount {
				t.Fatalf("%s: rule %s counted %v, want %v", c.name, c.rule, n, c.wantCount)
			}
		}
	}
}
