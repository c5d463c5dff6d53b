package engine

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/wire/embeddings"
)

func TestNewRulesValidation(t *testing.T) {
	good := []RuleConfig{
		{Name: "hot", When: RuleWhen{TemperatureAbove: ptr(0.7)}, Action: RuleBypass},
		{Name: "short", Match: RuleMatch{Routes: []string{"chat"}, Models: []string{"gpt-4o*"}}, TTL: time.Hour},
		{Name: "pii", When: RuleWhen{PII: ptr(true)}, Action: RuleNoStore},
	}
	rs, err := NewRules(good)
	if err != nil || rs.Len() != 3 || rs.rules[1].action != RuleTTL {
		t.Fatalf("valid rules: %v %+v", err, rs)
	}
	bad := []RuleConfig{
		{Action: RuleBypass},                               // no name
		{Name: "a b", Action: RuleBypass},                  // bad name
		{Name: "dup", Action: RuleBypass},                  //
		{Name: "dup", Action: RuleNoStore},                 // used twice
		{Name: "act", Action: "drop"},                      // unknown action
		{Name: "ttl0", Action: RuleTTL},                    // ttl action without a ttl
		{Name: "ttlx", Action: RuleBypass, TTL: time.Hour}, // ttl on bypass
		{Name: "route", Match: RuleMatch{Routes: []string{"images"}}, Action: RuleBypass},
		{Name: "glob", Match: RuleMatch{Models: []string{""}}, Action: RuleBypass},
		{Name: "temp", When: RuleWhen{TemperatureAbove: ptr(3.0)}, Action: RuleBypass},
		{Name: "tok", When: RuleWhen{PromptTokensAbove: -1}, Action: RuleBypass},
	}
	_, err = NewRules(bad)
	if err == nil {
		t.Fatal("bad rules accepted")
	}
	for _, want := range []string{"needs a name", "a b", "name used twice", `"drop"`, "positive ttl", "only for the ttl action",
		`route "images"`, "empty glob", "temperature_above 3", "prompt_tokens_above"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
	if n := strings.Count(err.Error(), "\n") + 1; n != len(bad)-1 { // "dup" is only wrong once
		t.Errorf("%d problems reported, want %d:\n%v", n, len(bad)-1, err)
	}
}

func TestGlob(t *testing.T) {
	for _, tt := range []struct {
		p, s string
		ok   bool
	}{
		{"gpt-4o*", "gpt-4o-mini", true}, {"gpt-4o*", "gpt-4", false}, {"*", "", true}, {"*-mini", "gpt-4o-mini", true},
		{"tenant:acme*", "tenant:acme/drafts", true}, {"tenant:acme", "tenant:acme/drafts", false}, {"gpt-?", "gpt-4", true},
		{"a*b*c", "aXbYc", true}, {"a*b*c", "aXbY", false}, {"", "", true}, {"", "x", false},
	} {
		if got := glob(tt.p, tt.s); got != tt.ok {
			t.Errorf("glob(%q, %q) = %v", tt.p, tt.s, got)
		}
	}
}

func TestJSONStrings(t *testing.T) {
	got := jsonStrings([]byte(`{"model":"m","messages":[{"role":"user","content":"mail me at a@b.io"}],"n":1,"stop":["x",{"k":"v"}],"e":{}}`))
	want := []string{"m", "user", "mail me at a@b.io", "x", "v"}
	if !slices.Equal(got, want) {
		t.Fatalf("jsonStrings = %q, want %q", got, want)
	}
	if got := jsonStrings([]byte(`{"a":`)); len(got) != 0 {
		t.Fatalf("broken body: %q", got)
	}
}

// TestCacheRules runs each condition and action through the engine.
func TestCacheRules(t *testing.T) {
	long := strings.Repeat("lorem ipsum dolor sit amet ", 40) // ~200 estimated tokens
	tools := `"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	type call struct {
		key, body string
	}
	tests := []struct {
		name     string
		rules    []RuleConfig
		req      call
		applied  string // the rule that applies, "" for none
		outcome2 string // the outcome of the same request sent again
	}{
		{"temperature above: bypass", []RuleConfig{{Name: "hot", When: RuleWhen{TemperatureAbove: ptr(0.7)}, Action: RuleBypass}},
			call{"k", chatBody("t1", `"temperature":0.9`)}, "hot", OutcomeBypass},
		{"temperature below: cached", []RuleConfig{{Name: "hot", When: RuleWhen{TemperatureAbove: ptr(0.7)}, Action: RuleBypass}},
			call{"k", chatBody("t2", `"temperature":0.2`)}, "", OutcomeHitExact},
		{"no temperature is the default 1", []RuleConfig{{Name: "hot", When: RuleWhen{TemperatureAbove: ptr(0.7)}, Action: RuleBypass}},
			call{"k", chatBody("t3")}, "hot", OutcomeBypass},
		{"tools present", []RuleConfig{{Name: "tools", When: RuleWhen{ToolsPresent: ptr(true)}, Action: RuleBypass}},
			call{"k", chatBody("t4", tools)}, "tools", OutcomeBypass},
		{"tools absent", []RuleConfig{{Name: "tools", When: RuleWhen{ToolsPresent: ptr(true)}, Action: RuleBypass}},
			call{"k", chatBody("t5")}, "", OutcomeHitExact},
		{"long prompt", []RuleConfig{{Name: "long", When: RuleWhen{PromptTokensAbove: 100}, Action: RuleBypass}},
			call{"k", chatBody(long)}, "long", OutcomeBypass},
		{"short prompt", []RuleConfig{{Name: "long", When: RuleWhen{PromptTokensAbove: 100}, Action: RuleBypass}},
			call{"k", chatBody("short")}, "", OutcomeHitExact},
		{"pii email", []RuleConfig{{Name: "pii", When: RuleWhen{PII: ptr(true)}, Action: RuleBypass}},
			call{"k", chatBody("my email is jane@example.com, summarise my account")}, "pii", OutcomeBypass},
		{"pii in the system prompt", []RuleConfig{{Name: "pii", When: RuleWhen{PII: ptr(true)}, Action: RuleBypass}},
			call{"k", `{"model":"m","messages":[{"role":"system","content":"Customer card: 4111 1111 1111 1111"},{"role":"user","content":"hello"}]}`}, "pii", OutcomeBypass},
		{"no pii", []RuleConfig{{Name: "pii", When: RuleWhen{PII: ptr(true)}, Action: RuleBypass}},
			call{"k", chatBody("what is 12 * 37")}, "", OutcomeHitExact},
		{"model glob", []RuleConfig{{Name: "minis", Match: RuleMatch{Models: []string{"*-mini"}}, Action: RuleBypass}},
			call{"k", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`}, "minis", OutcomeBypass},
		{"model glob not matching", []RuleConfig{{Name: "minis", Match: RuleMatch{Models: []string{"*-mini"}}, Action: RuleBypass}},
			call{"k", chatBody("hi")}, "", OutcomeHitExact},
		{"namespace glob", []RuleConfig{{Name: "acme", Match: RuleMatch{Namespaces: []string{"tenant:acme*"}}, Action: RuleBypass}},
			call{"k-acme", chatBody("ns")}, "acme", OutcomeBypass},
		{"namespace glob not matching", []RuleConfig{{Name: "acme", Match: RuleMatch{Namespaces: []string{"tenant:acme*"}}, Action: RuleBypass}},
			call{"k-other", chatBody("ns")}, "", OutcomeHitExact},
		{"route", []RuleConfig{{Name: "emb", Match: RuleMatch{Routes: []string{"embeddings"}}, Action: RuleBypass}},
			call{"k", chatBody("route")}, "", OutcomeHitExact},
		{"all conditions must hold", []RuleConfig{{Name: "both", When: RuleWhen{TemperatureAbove: ptr(0.5), ToolsPresent: ptr(true)}, Action: RuleBypass}},
			call{"k", chatBody("both", `"temperature":0.9`)}, "", OutcomeHitExact},
		{"first match wins", []RuleConfig{
			{Name: "first", When: RuleWhen{TemperatureAbove: ptr(0.5)}, Action: RuleNoStore},
			{Name: "second", When: RuleWhen{TemperatureAbove: ptr(0.5)}, Action: RuleBypass}},
			call{"k", chatBody("order", `"temperature":0.9`)}, "first", OutcomeMiss},
		{"no_store looks up but never stores", []RuleConfig{{Name: "ns", Action: RuleNoStore}},
			call{"k", chatBody("nostore")}, "ns", OutcomeMiss},
		{"ttl stores", []RuleConfig{{Name: "short", TTL: time.Minute}},
			call{"k", chatBody("ttl")}, "short", OutcomeHitExact},
	}
	nsr, err := NewNamespacer([]Tenant{{Name: "acme", Keys: []string{"k-acme"}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, err := NewRules(tt.rules)
			if err != nil {
				t.Fatal(err)
			}
			p := newPolicyEnv(t, false, Options{Rules: rs, Namespaces: nsr})
			for _, r := range tt.rules {
				action := r.Action
				if action == "" {
					action = RuleTTL
				}
				if n, ok := counter(t, p.reg, "semcache_rule_applied_total", map[string]string{"rule": r.Name, "action": action}); !ok || n != 0 {
					t.Fatalf("rule %s not initialised at 0 (%v %v)", r.Name, n, ok)
				}
			}
			h := http.Header{"Authorization": {"Bearer " + tt.req.key}}
			first := p.do(t, h, tt.req.body, "answer")
			if got := first.header.Get("X-Semcache-Rule"); got != tt.applied {
				t.Fatalf("X-Semcache-Rule %q, want %q", got, tt.applied)
			}
			second := p.do(t, h, tt.req.body, "answer")
			if second.outcome != tt.outcome2 {
				t.Fatalf("second call %s, want %s", second.outcome, tt.outcome2)
			}
			if tt.applied != "" {
				r := rs.rules[slices.IndexFunc(rs.rules, func(r rule) bool { return r.name == tt.applied })]
				if n, _ := counter(t, p.reg, "semcache_rule_applied_total", map[string]string{"rule": r.name, "action": r.action}); n != 2 {
					t.Fatalf("rule %s counted %v times, want 2", r.name, n)
				}
			}
			if first.outcome == OutcomeBypass && first.header.Get("X-Semcache") != "bypass" {
				t.Fatalf("bypass header %q", first.header.Get("X-Semcache"))
			}
		})
	}
}

// TestRuleActions: what each action does to the lookup and the store.
func TestRuleActions(t *testing.T) {
	body := chatBody("rule actions")
	t.Run("bypass skips the lookup", func(t *testing.T) {
		p := newPolicyEnv(t, false, Options{})
		p.do(t, nil, body, "stored before the rule")
		rs, _ := NewRules([]RuleConfig{{Name: "off", Action: RuleBypass}})
		if err := p.e.SetPolicy(Policy{Rules: rs}); err != nil {
			t.Fatal(err)
		}
		if r := p.do(t, nil, body, "x"); !r.upstream || r.outcome != OutcomeBypass || r.call.reason != "rule off" {
			t.Fatalf("bypass: upstream %v outcome %s reason %q", r.upstream, r.outcome, r.call.reason)
		}
	})
	t.Run("no_store still serves hits", func(t *testing.T) {
		p := newPolicyEnv(t, false, Options{})
		p.do(t, nil, body, "stored before the rule")
		rs, _ := NewRules([]RuleConfig{{Name: "ro", Action: RuleNoStore}})
		if err := p.e.SetPolicy(Policy{Rules: rs}); err != nil {
			t.Fatal(err)
		}
		if r := p.do(t, nil, body, "x"); r.upstream || !strings.Contains(string(r.body), "stored before the rule") {
			t.Fatalf("no_store: upstream %v body %s", r.upstream, r.body)
		}
		other := chatBody("not stored")
		p.do(t, nil, other, "x")
		if r := p.do(t, nil, other, "x"); !r.upstream {
			t.Fatal("no_store stored an answer")
		}
		if n, _ := counter(t, p.reg, "semcache_writeback_total", map[string]string{"result": "rule_no_store"}); n != 2 {
			t.Fatalf("rule_no_store write-backs %v, want 2", n)
		}
	})
	t.Run("ttl is capped", func(t *testing.T) {
		for _, tt := range []struct {
			ruleTTL, maxTTL time.Duration
			reqTTL          string
			want            time.Duration
		}{
			{time.Minute, time.Hour, "", time.Minute},
			{48 * time.Hour, time.Hour, "", time.Hour},
			{time.Hour, 24 * time.Hour, "60", time.Minute},    // a shorter X-Semcache-TTL wins
			{time.Minute, 24 * time.Hour, "600", time.Minute}, // a longer one does not lengthen
		} {
			rs, _ := NewRules([]RuleConfig{{Name: "ttl", TTL: tt.ruleTTL}})
			p := newPolicyEnv(t, false, Options{Rules: rs, MaxTTL: tt.maxTTL})
			h := http.Header{}
			if tt.reqTTL != "" {
				h.Set("X-Semcache-TTL", tt.reqTTL)
			}
			r := p.do(t, h, body, "x")
			res := p.c.Get(context.Background(), r.call.items[0])
			if res.Entry == nil || res.Entry.ExpiresAt.Sub(res.Entry.CreatedAt) != tt.want {
				t.Fatalf("%+v: entry %+v, want a lifetime of %v", tt, res.Entry, tt.want)
			}
		}
	})
	t.Run("embeddings", func(t *testing.T) {
		rs, _ := NewRules([]RuleConfig{{Name: "pii", Match: RuleMatch{Routes: []string{"embeddings"}}, When: RuleWhen{PII: ptr(true)}, Action: RuleBypass}})
		p := newPolicyEnv(t, false, Options{Rules: rs})
		c := p.e.Begin(FrontHTTP, http.MethodPost, embeddings.Path, http.Header{})
		defer c.End()
		plan := c.Plan(context.Background(), []byte(`{"model":"e","input":["ok","call +44 20 7946 0958"]}`), true)
		if plan.Upstream == nil || c.Outcome() != OutcomeBypass || plan.Upstream.Header.Get("X-Semcache-Rule") != "pii" {
			t.Fatalf("embeddings with PII: %+v %s", plan, c.Outcome())
		}
	})
	t.Run("reload replaces the rules", func(t *testing.T) {
		rs, _ := NewRules([]RuleConfig{{Name: "a", Action: RuleBypass}})
		p := newPolicyEnv(t, false, Options{Rules: rs})
		before := p.e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{})
		rs2, _ := NewRules([]RuleConfig{{Name: "b", Action: RuleNoStore}})
		if err := p.e.SetPolicy(Policy{Rules: rs2}); err != nil {
			t.Fatal(err)
		}
		before.Plan(context.Background(), []byte(body), true)
		before.End()
		if before.rp.rule == nil || before.rp.rule.name != "a" {
			t.Fatal("a call begun before the reload did not keep its rules")
		}
		if r := p.do(t, nil, body, "x"); r.header.Get("X-Semcache-Rule") != "b" {
			t.Fatalf("after reload: rule %q", r.header.Get("X-Semcache-Rule"))
		}
		if _, ok := counter(t, p.reg, "semcache_rule_applied_total", map[string]string{"rule": "b", "action": RuleNoStore}); !ok {
			t.Fatal("a reloaded rule is not initialised")
		}
	})
}
