package engine

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/semcache/semcache/rag/chunk"
	"github.com/semcache/semcache/wire/chat"
	"github.com/semcache/semcache/wire/completions"
	"github.com/semcache/semcache/wire/embeddings"
	"github.com/semcache/semcache/wire/responses"
)

// Cache rules are the operator's "should this be cached" policy, declared
// in the config file (cache_rules:). They are evaluated in order after a
// request is parsed; the first rule whose match and conditions all hold
// applies its action, and is counted by name
// (semcache_rule_applied_total). A request the API itself never caches
// (n > 1, logprobs, …) is bypassed before the rules run.

// Rule actions.
const (
	// RuleBypass: no lookup, no store; the request goes upstream as is.
	RuleBypass = "bypass"
	// RuleNoStore: looked up, but the answer is never stored.
	RuleNoStore = "no_store"
	// RuleTTL: looked up, and stored with the rule's TTL (capped by the
	// max TTL; a shorter X-Semcache-TTL or upstream max-age still wins).
	RuleTTL = "ttl"
)

// RuleConfig is one cache rule as the config file declares it.
type RuleConfig struct {
	// Name labels the rule in metrics and the X-Semcache-Rule header.
	Name string `yaml:"name"`
	// Match selects the requests the rule looks at; an empty list matches
	// everything.
	Match RuleMatch `yaml:"match"`
	// When lists conditions that must all hold (none: always).
	When RuleWhen `yaml:"when"`
	// Action is bypass, no_store or ttl (may be left out when TTL is set).
	Action string `yaml:"action"`
	// TTL is the lifetime of the entries of a ttl rule.
	TTL time.Duration `yaml:"ttl"`
}

// RuleMatch selects requests by API, model and namespace. Globs use *
// (any run of characters, '/' included) and ? (one character).
type RuleMatch struct {
	// Routes are API names: chat, responses, completions, embeddings.
	Routes []string `yaml:"routes"`
	// Models are globs over the model the request asks for.
	Models []string `yaml:"models"`
	// Namespaces are globs over the request's namespace
	// ("tenant:acme", "key:…", "tenant:acme/drafts").
	Namespaces []string `yaml:"namespaces"`
}

// RuleWhen are a rule's conditions on the request body.
type RuleWhen struct {
	// TemperatureAbove holds when the request's temperature is above it
	// (a request without one is taken at the API's default, 1).
	TemperatureAbove *float64 `yaml:"temperature_above"`
	// ToolsPresent holds when the request offers tools (tools or
	// functions) as it says: true, or false for requests without.
	ToolsPresent *bool `yaml:"tools_present"`
	// PromptTokensAbove holds when the estimated tokens of the request's
	// text (every string in its body, rag/chunk.EstimateTokens) exceed it.
	PromptTokensAbove int `yaml:"prompt_tokens_above"`
	// PII holds when the text of the request has personal data as the
	// built-in detector finds it (see DetectPII), or has none when false.
	PII *bool `yaml:"pii"`
}

// Rules are validated cache rules, ready to apply. The zero value (and
// nil) has none.
type Rules struct {
	rules []rule
}

type rule struct {
	name               string
	routes             map[string]bool
	models, namespaces []string
	when               RuleWhen
	action             string
	ttl                time.Duration
}

// knownRoutes are the APIs a rule may name.
var knownRoutes = map[string]bool{chat.Name: true, responses.Name: true, completions.Name: true, embeddings.Name: true}

// NewRules validates rule configs, reporting every problem.
func NewRules(cfgs []RuleConfig) (*Rules, error) {
	var errs []error
	bad := func(i int, name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("cache_rules[%d] (%s): %s", i, name, fmt.Sprintf(format, args...)))
	}
	rs := &Rules{}
	names := map[string]bool{}
	for i, c := range cfgs {
		r := rule{name: c.Name, models: c.Match.Models, namespaces: c.Match.Namespaces, when: c.When, action: c.Action, ttl: c.TTL}
		switch {
		case c.Name == "":
			bad(i, c.Name, "needs a name")
		case len(c.Name) > 64 || strings.ContainsFunc(c.Name, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.')
		}):
			bad(i, c.Name, "name must be at most 64 letters, digits, '.', '_' or '-'")
		case names[c.Name]:
			bad(i, c.Name, "name used twice")
		}
		names[c.Name] = true
		if r.action == "" && c.TTL != 0 {
			r.action = RuleTTL
		}
		switch r.action {
		case RuleBypass, RuleNoStore:
			if c.TTL != 0 {
				bad(i, c.Name, "ttl is only for the ttl action, not %s", r.action)
			}
		case RuleTTL:
			if c.TTL <= 0 {
				bad(i, c.Name, "the ttl action needs a positive ttl")
			}
		default:
			bad(i, c.Name, "action %q: want bypass, no_store or ttl", c.Action)
		}
		if len(c.Match.Routes) > 0 {
			r.routes = map[string]bool{}
		}
		for _, route := range c.Match.Routes {
			if !knownRoutes[route] {
				bad(i, c.Name, "route %q: want chat, responses, completions or embeddings", route)
			}
			r.routes[route] = true
		}
		for _, g := range append(append([]string(nil), c.Match.Models...), c.Match.Namespaces...) {
			if g == "" {
				bad(i, c.Name, "empty glob")
			}
		}
		if t := c.When.TemperatureAbove; t != nil && (*t < 0 || *t > 2) {
			bad(i, c.Name, "temperature_above %v: want 0..2", *t)
		}
		if c.When.PromptTokensAbove < 0 {
			bad(i, c.Name, "prompt_tokens_above must not be negative")
		}
		rs.rules = append(rs.rules, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rs, nil
}

// Len is the number of rules.
func (rs *Rules) Len() int {
	if rs == nil {
		return 0
	}
	return len(rs.rules)
}

// ruleSubject is what rules are matched against; the body's features are
// read only when a rule asks.
type ruleSubject struct {
	route, model, ns string
	body             []byte

	parsed            bool
	temperature       float64
	tools             bool
	text              []string
	textRead, piiRead bool
	pii               bool
}

// first returns the first rule that applies to s, or nil.
func (rs *Rules) first(s *ruleSubject) *rule {
	if rs == nil {
		return nil
	}
	for i := range rs.rules {
		if r := &rs.rules[i]; r.applies(s) {
			return r
		}
	}
	return nil
}

func (r *rule) applies(s *ruleSubject) bool {
	if r.routes != nil && !r.routes[s.route] {
		return false
	}
	if len(r.models) > 0 && !anyGlob(r.models, s.model) {
		return false
	}
	if len(r.namespaces) > 0 && !anyGlob(r.namespaces, s.ns) {
		return false
	}
	w := &r.when
	if w.TemperatureAbove != nil && !(s.features().temperature > *w.TemperatureAbove) {
		return false
	}
	if w.ToolsPresent != nil && s.features().tools != *w.ToolsPresent {
		return false
	}
	if w.PromptTokensAbove > 0 && !s.tokensAbove(w.PromptTokensAbove) {
		return false
	}
	if w.PII != nil && s.hasPII() != *w.PII {
		return false
	}
	return true
}

// defaultTemperature is the sampling temperature of a request without
// one (every OpenAI API's default).
const defaultTemperature = 1

// features reads the request's temperature and tools.
func (s *ruleSubject) features() *ruleSubject {
	if s.parsed {
		return s
	}
	s.parsed = true
	var f struct {
		Temperature *float64          `json:"temperature"`
		Tools       []json.RawMessage `json:"tools"`
		Functions   []json.RawMessage `json:"functions"`
	}
	_ = json.Unmarshal(s.body, &f) // the endpoint parsed it already
	s.temperature = defaultTemperature
	if f.Temperature != nil {
		s.temperature = *f.Temperature
	}
	s.tools = len(f.Tools) > 0 || len(f.Functions) > 0
	return s
}

// strings returns every string value of the body (object keys left out):
// the text the prompt-token estimate and the PII detector read.
func (s *ruleSubject) strings() []string {
	if !s.textRead {
		s.textRead = true
		s.text = jsonStrings(s.body)
	}
	return s.text
}

// tokensAbove reports whether the estimated tokens of the request's text
// exceed n. The estimator never counts more tokens than bytes, so a text
// of at most n bytes is not estimated at all, and the estimate stops as
// soon as it passes n: the cost is bounded by the rule, not the body.
func (s *ruleSubject) tokensAbove(n int) bool {
	texts := s.strings()
	size := 0
	for _, t := range texts {
		size += len(t)
	}
	if size <= n {
		return false
	}
	total := 0
	for _, t := range texts {
		total += chunk.EstimateTokens(t)
		if total > n {
			return true
		}
	}
	return false
}

func (s *ruleSubject) hasPII() bool {
	if !s.piiRead {
		s.piiRead = true
		for _, t := range s.strings() {
			if _, ok := DetectPII(t); ok {
				s.pii = true
				break
			}
		}
	}
	return s.pii
}

// jsonStrings lists the string values of a JSON document, not its object
// keys.
func jsonStrings(body []byte) []string {
	type frame struct{ object, expectKey bool }
	dec := json.NewDecoder(bytes.NewReader(body))
	var stack []frame
	var out []string
	afterValue := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil { // io.EOF, or a body the endpoint would have refused
			return out
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, frame{object: true, expectKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				if len(stack) > 0 {
					stack = stack[:len(stack)-1]
				}
				afterValue()
			}
			continue
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			stack[n-1].expectKey = false // a key; its value comes next
			continue
		}
		if str, ok := tok.(string); ok {
			out = append(out, str)
		}
		afterValue()
	}
}

// anyGlob reports whether s matches one of the globs.
func anyGlob(globs []string, s string) bool {
	for _, g := range globs {
		if glob(g, s) {
			return true
		}
	}
	return false
}

// glob matches s against pattern: * is any run of characters, ? one byte.
func glob(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == s[i]):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// applyRules runs the cache rules on a parsed request: it returns the
// bypass reason when a bypass rule applies ("" otherwise), and records a
// no_store or ttl rule for the write-back.
func (c *Call) applyRules(body []byte) string {
	rs := c.pol.rules
	if rs.Len() == 0 {
		return ""
	}
	model := ""
	if len(c.items) > 0 {
		model = c.items[0].Model
	}
	r := rs.first(&ruleSubject{route: c.route, model: model, ns: c.ns, body: body})
	if r == nil {
		return ""
	}
	c.rp.rule = r
	c.e.metrics.ruleApplied(r)
	c.header.Set("X-Semcache-Rule", r.name)
	switch r.action {
	case RuleBypass:
		return "rule " + r.name
	case RuleTTL:
		ttl := min(r.ttl, c.pol.maxTTL)
		if c.ctl.TTL > 0 {
			ttl = min(ttl, c.ctl.TTL)
		}
		c.ctl.TTL = ttl
	}
	return ""
}
