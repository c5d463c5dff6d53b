package admin

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/proxy"
)

func hitCall(ns, key, outcome string) *proxy.Call {
	return &proxy.Call{Namespace: ns, Outcome: outcome, Result: cache.Result{Entry: &cache.Entry{
		ID: key[:4], Key: key, Namespace: ns, Prompt: "prompt of " + key, RequestModel: "m",
		Answer: cache.Answer{Usage: &cache.Usage{PromptTokens: 3, CompletionTokens: 2}},
	}}}
}

func missCall(t *testing.T, ns, prompt string, edit func(*proxy.Call)) *proxy.Call {
	t.Helper()
	r, err := cache.ParseRequest(chat(prompt), cache.PromptLastMessage)
	if err != nil {
		t.Fatal(err)
	}
	c := &proxy.Call{Namespace: ns, Request: r, Outcome: proxy.OutcomeMiss}
	if edit != nil {
		edit(c)
	}
	return c
}

func TestTrackerTopEntries(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	tr, err := NewTracker(TrackerOptions{Entries: 2, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	calls := []struct{ ns, key, outcome string }{
		{"a", "k1k1k1", proxy.OutcomeHitExact},
		{"a", "k1k1k1", proxy.OutcomeHitSemantic},
		{"a", "k1k1k1", proxy.OutcomeHitExact},
		{"a", "k2k2k2", proxy.OutcomeHitExact},
		{"b", "k3k3k3", proxy.OutcomeHitExact},
		{"b", "k3k3k3", proxy.OutcomeHitExact},
	}
	for _, c := range calls {
		clk.add(time.Second)
		tr.ObserveCall("chat", hitCall(c.ns, c.key, c.outcome), time.Millisecond)
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
	// Past 2×Entries keys the least-hit ones are forgotten.
	for i := range 3 {
		tr.ObserveCall("chat", hitCall("c", fmt.Sprintf("new-%d", i), proxy.OutcomeHitExact), 0)
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
		call                *proxy.Call
		reason, rejectedFor string
		score               float32
	}{
		{missCall(t, "a", "first question", nil), "new", "", 0},
		{missCall(t, "a", "second", func(c *proxy.Call) { c.Controls.NoCache = true }), "no_cache", "", 0},
		{missCall(t, "a", "third", func(c *proxy.Call) {
			c.Result.Rejections = []cache.Rejection{{Score: 0.91, Reason: "numbers"}, {Score: 0.85, Reason: "negation"}}
		}), "rejected", "numbers", 0.91},
		{missCall(t, "b", "fourth", func(c *proxy.Call) { c.Result.Shadow, c.Result.Similarity = &cache.Entry{}, 0.97 }), "shadow", "", 0.97},
		{missCall(t, "b", "fifth", func(c *proxy.Call) { c.Result.EmbedErr = errors.New("down") }), "degraded", "", 0},
		{missCall(t, "b", "sixth", func(c *proxy.Call) { c.Outcome, c.Request.BypassReason = proxy.OutcomeBypass, "n > 1" }), "n > 1", "", 0},
	}
	for _, tt := range tests {
		tr.ObserveCall("chat", tt.call, 2*time.Millisecond)
	}
	got := tr.Misses("", 10)
	if len(got) != 3 {
		t.Fatalf("kept %d misses, want the last 3", len(got))
	}
	for i, m := range got {
		tt := tests[len(tests)-1-i] // newest first
		if m.Reason != tt.reason || m.RejectedFor != tt.rejectedFor || m.NearestScore != tt.score || m.Prompt != tt.call.Request.Prompt || m.Seconds != 0.002 {
			t.Errorf("miss %d = %+v, want reason %q (%q, %v)", i, m, tt.reason, tt.rejectedFor, tt.score)
		}
	}
	if a := tr.Misses("a", 10); len(a) != 0 {
		t.Errorf("namespace a's misses were overwritten but still listed: %+v", a)
	}
	if tr.Misses("b", 1)[0].Outcome != proxy.OutcomeBypass {
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
