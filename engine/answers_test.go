package engine

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire/chat"
)

func TestAnswersValidate(t *testing.T) {
	tests := []struct {
		name string
		a    Answers
		want string // a substring of the error ("" : valid)
	}{
		{"defaults", Answers{}, ""},
		{"zero usage, variants, pace", Answers{Usage: HitUsageZero, Variants: 4, Pace: time.Millisecond, NamespaceVariants: map[string]int{"a": 2}}, ""},
		{"unknown usage", Answers{Usage: "half"}, `hit usage "half"`},
		{"negative pace", Answers{Pace: -time.Second}, "pace"},
		{"too many variants", Answers{Variants: MaxVariants + 1}, "variants 17"},
		{"bad namespace variants", Answers{NamespaceVariants: map[string]int{"a": 0}}, `namespace "a"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.a.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Validate() = %v, want %q", err, tt.want)
			}
		})
	}
	// Every problem is reported at once.
	if err := (Answers{Usage: "x", Pace: -1, Variants: -1}).Validate(); err == nil || strings.Count(err.Error(), "\n") != 2 {
		t.Fatalf("want three problems, got %v", err)
	}
}

func TestParseAnswerControls(t *testing.T) {
	tests := []struct {
		marker, usage string
		wantMarker    *bool
		wantUsage     HitUsage
		bad           bool
	}{
		{"", "", nil, "", false},
		{"true", "zero", ptr(true), HitUsageZero, false},
		{"Off", "ORIGINAL", ptr(false), HitUsageOriginal, false},
		{"yes", "", nil, "", true},
		{"", "none", nil, "", true},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.marker != "" {
			h.Set("X-Semcache-Hit-Marker", tt.marker)
		}
		if tt.usage != "" {
			h.Set("X-Semcache-Hit-Usage", tt.usage)
		}
		ac, err := parseAnswerControls(h)
		if (err != nil) != tt.bad {
			t.Errorf("%q %q: err %v", tt.marker, tt.usage, err)
			continue
		}
		if tt.bad {
			continue
		}
		if (ac.marker == nil) != (tt.wantMarker == nil) || ac.marker != nil && *ac.marker != *tt.wantMarker || ac.usage != tt.wantUsage {
			t.Errorf("%q %q: %+v", tt.marker, tt.usage, ac)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestPaceAndPolicyReload: a stream hit carries the pace, a JSON hit does
// not; a policy change applies to the calls that begin after it.
func TestPaceAndPolicyReload(t *testing.T) {
	e, _ := testEngine(t)
	ctx := context.Background()
	body := func(stream bool) []byte {
		if stream {
			return []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"pace me"}]}`)
		}
		return []byte(`{"model":"m","messages":[{"role":"user","content":"pace me"}]}`)
	}
	req, err := chat.ParseRequest(body(false), "")
	if err != nil {
		t.Fatal(err)
	}
	l := req.Lookup()
	l.Namespace = e.Namespace(http.Header{})
	ans := chat.Answer{Model: "m", Usage: &cache.Usage{PromptTokens: 2, CompletionTokens: 3, TotalTokens: 5},
		Payload: chat.Payload{Role: "assistant", Content: "One sentence. Another one.", FinishReason: "stop"}}
	e.Cache().Put(l, ans.Cache(), nil, 0, nil)
	hit := func(stream bool) *Reply {
		c := e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{})
		defer c.End()
		p := c.Plan(ctx, body(stream), true)
		if p.Reply == nil || p.Reply.Header.Get("X-Semcache") != "hit-exact" {
			t.Fatalf("not a hit: %+v", p)
		}
		return p.Reply
	}
	if r := hit(true); r.Pace != 0 || strings.Contains(string(r.Body), `"semcache"`) {
		t.Fatalf("default: pace %v, body %s", r.Pace, r.Body)
	}
	if err := e.SetPolicy(Policy{Answers: Answers{Pace: 20 * time.Millisecond, Marker: true}}); err != nil {
		t.Fatal(err)
	}
	if r := hit(true); r.Pace != 20*time.Millisecond || !strings.Contains(string(r.Body), `"semcache":{"hit":"exact"`) {
		t.Fatalf("after the reload: pace %v, body %s", r.Pace, r.Body)
	}
	if r := hit(false); r.Pace != 0 {
		t.Fatalf("a JSON hit has a pace: %v", r.Pace)
	}
	if err := e.SetPolicy(Policy{Answers: Answers{Usage: "bogus"}}); err == nil {
		t.Fatal("SetPolicy took a bad hit usage")
	}
}
