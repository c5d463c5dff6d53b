package admin

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
)

func hitCall(ns, key, outcome string) *engine.Summary {
	return &engine.Summary{Namespace: ns, Route: "chat", Outcome: outcome, Items: 1, Hits: 1, Entry: &cache.Entry{
		ID: key[:4], Key: key, Namespace: ns, Prompt: "prompt of " + key, RequestModel: "m",
		Answer: cache.Answer{Usage: &cache.Usage{PromptTokens: 3, CompletionTokens: 2}},
	}}
}

func missCall(ns, prompt, reason string, edit func(*engine.Summary)) *engine.Summary {
	s := &engine.Summary{Namespace: ns, Route: "chat", Model: "m", Prompt: prompt, Outcome: engine.OutcomeMiss, Reason: reason,
		Items: 1, Elapsed: 2 * time.Millisecond}
	if edit != nil {
		edit(s)
	}
	return s
}

func TestTrackerTopEntries(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	tr, err := NewTracker(TrackerOptions{Entries: 2, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct{ ns, key, outcome string }{
		{"a", "k1k1k1", engine.OutcomeHitExact},
		{"a", "k1k1k1", engine.OutcomeHitSemantic},
		{"a", "k1k1k1", engine.OutcomeHitExact},
		{"a", "k2k2k2", engine.OutcomeHitExact},
		{"b", "k3k3k3", engine.OutcomeHitExact},
		{"b", "k3k3k3", engine.OutcomeHitExact},
	}
	for _, c := range calls {
		clk.add(time.Second)
		tr.ObserveCall(hitCall(c.ns, c.key, c.outcome))
	}
	top := tr.Top("", 10)
	got := []string{}
	for _, e := range top {
		got = append(got, fmt.Sprintf("%s:%d/%d/%d:%d", e.Key, e.Hits, e.ExactHits, e.SemanticHits, e.TokensSaved))
	}
	if want := "k1k1k1:3/2/1:15,k3k3k3:2/2/0:10,k2k2k2:1/1/0:5"; strings.Join(got, ",") != want {
		t.Fatalf("top = %s\nwant  %s", strings.Join(got, ","), want)
	}
	if a := tr.Top("a", 1); len(a) != 1 || a[0].Key != "k1k1k1" || !a[0].LastHit.Equal(time.Unix(1_700_000_003, 0)) {
		t.Fatalf("top of a = %+v", a)
	}
	// A hit that served another of the entry's answers saves that
	// answer's tokens.
	variant := hitCall("a", "k2k2k2", engine.OutcomeHitExact)
	variant.Answer = &cache.Answer{Usage: &cache.Usage{PromptTokens: 3, CompletionTokens: 40}}
	tr.ObserveCall(variant)
	for _, e := range tr.Top("a", 10) {
		if e.Key == "k2k2k2" && e.TokensSaved != 5+43 {
			t.Fatalf("k2 saved %d tokens, want 48 (5, then a variant's 43)", e.TokensSaved)
		}
	}
	// Past 2×Entries keys the least-hit ones are forgotten.
	for i := range 3 {
		tr.ObserveCall(hitCall("c", fmt.Sprintf("new-%d", i), engine.OutcomeHitExact))
	}
	if n := len(tr.Top("", 100)); n > 4 {
		t.Fatalf("tracker holds %d entries, bound is 4", n)
	}
	if top := tr.Top("", 1); top[0].Key != "k1k1k1" {
		t.Fatalf("the most-hit entry was forgotten: %+v", top)
	}
	tr.ForgetNamespace("a")
	tr.ForgetEntry("b", "k3k3")
	for _, e := range tr.Top("", 100) {
		if e.Namespace == "a" || e.Key == "k3k3k3" {
			t.Fatalf("forgotten entry listed: %+v", e)
		}
	}
}

func TestTrackerMisses(t *testing.T) {
	tr, err := NewTracker(TrackerOptions{Misses: 3, PromptChars: 12})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		call                *engine.Summary
		reason, rejectedFor string
		score               float32
	}{
		{missCall("a", "first question", "new", nil), "new", "", 0},
		{missCall("a", "second", "no_cache", nil), "no_cache", "", 0},
		{missCall("a", "third", "rejected", func(s *engine.Summary) { s.Similarity, s.RejectedFor = 0.91, "numbers" }), "rejected", "numbers", 0.91},
		{missCall("b", "fourth", "shadow", func(s *engine.Summary) { s.Similarity = 0.97 }), "shadow", "", 0.97},
		{missCall("b", "fifth", "degraded", nil), "degraded", "", 0},
		{missCall("b", "sixth", "n>1", func(s *engine.Summary) { s.Outcome = engine.OutcomeBypass }), "n>1", "", 0},
		{missCall("b", "a batch of inputs", "", func(s *engine.Summary) { s.Outcome, s.Items, s.Hits = engine.OutcomeHitPartial, 100, 97 }), "97 of 100 items cached", "", 0},
	}
	for _, tt := range tests {
		tr.ObserveCall(tt.call)
	}
	got := tr.Misses("", 10)
	if len(got) != 3 {
		t.Fatalf("kept %d misses, want the last 3", len(got))
	}
	for i, m := range got {
		tt := tests[len(tests)-1-i] // newest first
		if m.Reason != tt.reason || m.RejectedFor != tt.rejectedFor || m.NearestScore != tt.score || m.Prompt != truncate(tt.call.Prompt, 12) ||
			m.Seconds != 0.002 || m.Route != "chat" {
			t.Errorf("miss %d = %+v, want reason %q (%q, %v)", i, m, tt.reason, tt.rejectedFor, tt.score)
		}
	}
	if a := tr.Misses("a", 10); len(a) != 0 {
		t.Errorf("namespace a's misses were overwritten but still listed: %+v", a)
	}
	if tr.Misses("b", 2)[1].Outcome != engine.OutcomeBypass {
		t.Error("bypass not recorded as such")
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"  spaced\n\tout  text ", 20, "spaced out text"},
		{"héllo wörld", 5, "héllo…"},
	}
	for _, tt := range tests {
		if got := truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
