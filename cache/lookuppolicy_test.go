package cache

import (
	"context"
	"testing"
	"time"
)

func TestParentNamespace(t *testing.T) {
	for _, c := range []struct{ ns, want string }{
		{"tenant:acme", "tenant:acme"},
		{"tenant:acme/drafts", "tenant:acme"},
		{"key:abc/x/y", "key:abc"},
		{"", ""},
	} {
		if got := ParentNamespace(c.ns); got != c.want {
			t.Errorf("ParentNamespace(%q) = %q, want %q", c.ns, got, c.want)
		}
	}
}

// A request's max-age serves only younger entries, in both tiers; the
// fresh answer then replaces the old one.
func TestLookupMaxAge(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c, err := Open(Options{Now: clk.now, Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	stored := lookup(t, "a", "how do I reverse a list in python")
	c.Put(stored, answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	clk.add(90 * time.Second)
	para := lookup(t, "a", "in python how do I reverse a list?")
	cases := []struct {
		name   string
		l      Lookup
		maxAge time.Duration
		want   Tier
		stale  bool
	}{
		{"exact, no max-age", stored, 0, TierExact, false},
		{"exact, younger than max-age", stored, 2 * time.Minute, TierExact, false},
		{"exact, older than max-age", stored, time.Minute, TierNone, true},
		{"exact, age equal to max-age", stored, 90 * time.Second, TierNone, true},
		{"semantic, younger than max-age", para, 2 * time.Minute, TierSemantic, false},
		{"semantic, older than max-age", para, time.Minute, TierNone, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.l
			l.MaxAge = tc.maxAge
			r := c.Get(ctx, l)
			if r.Tier != tc.want || r.Stale != tc.stale {
				t.Fatalf("tier %q stale %v, want %q stale %v", r.Tier, r.Stale, tc.want, tc.stale)
			}
		})
	}
	// The fresh answer replaces the old entry: max-age is then met.
	fresh := answer
	fresh.Text = "43"
	c.Put(stored, fresh, nil, 0, nil)
	l := stored
	l.MaxAge = time.Minute
	if r := c.Get(ctx, l); r.Tier != TierExact || r.Entry.Answer.Text != "43" {
		t.Fatalf("refreshed entry: %+v", r)
	}
}

// MinSimilarity and MinScore only ever raise a namespace's cut-offs.
func TestLookupRaisedCutoffs(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c := semanticCache(t, emb, idx, func(string, string, float32) string { return "" })
	ctx := context.Background()
	c.Put(lookup(t, "a", "how do I reverse a list in python"), answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	para := lookup(t, "a", "in python how do I reverse a list quickly?")
	base := c.Get(ctx, para)
	if base.Tier != TierSemantic || base.Similarity >= 0.99 {
		t.Fatalf("paraphrase: %+v", base)
	}
	sim := base.Similarity
	cases := []struct {
		name          string
		minSim, score float32
		want          Tier
		reason        string
	}{
		{"below the namespace's threshold: no change", 0.5, 0, TierSemantic, ""},
		{"similarity raised under the hit's", sim - 0.01, 0, TierSemantic, ""},
		{"similarity raised over the hit's", sim + 0.01, 0, TierNone, ""},
		{"score raised under the hit's", 0, sim - 0.01, TierSemantic, ""},
		{"score raised over the hit's", 0, sim + 0.01, TierNone, ReasonThreshold},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := para
			l.MinSimilarity, l.MinScore = tc.minSim, tc.score
			r := c.Get(ctx, l)
			if r.Tier != tc.want {
				t.Fatalf("tier %q, want %q: %+v", r.Tier, tc.want, r)
			}
			if tc.reason != "" && (len(r.Rejections) == 0 || r.Rejections[0].Reason != tc.reason) {
				t.Fatalf("rejections %+v, want %s", r.Rejections, tc.reason)
			}
		})
	}
	if got := c.Cutoffs("a"); !got.Enabled || got.Similarity != 0.7 || got.Score != 0.7 {
		t.Fatalf("Cutoffs = %+v, want the 0.7 threshold for both", got)
	}
}

// A sub-namespace keeps its own entries (never its parent's, nor its
// parent its), takes its parent's settings, and goes with the parent when
// the parent is invalidated.
func TestSubNamespace(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7,
		Thresholds: map[string]float32{"tenant:b": 2}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	q, para := "how do I reverse a list in python", "in python how do I reverse a list?"
	c.Put(lookup(t, "tenant:a", q), answer, nil, 0, nil)
	c.Put(lookup(t, "tenant:a/drafts", "what is the boiling point of water"), answer, nil, 0, nil)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ns, q string
		want  Tier
	}{
		{"tenant:a", q, TierExact},
		{"tenant:a", para, TierSemantic},
		{"tenant:a/drafts", q, TierNone},
		{"tenant:a/drafts", para, TierNone},
		{"tenant:a/other", "what is the boiling point of water", TierNone},
		{"tenant:a", "what is the boiling point of water", TierNone},
		{"tenant:a/drafts", "what is the boiling point of water", TierExact},
		{"tenant:b/drafts", q, TierNone},
	} {
		if r := c.Get(ctx, lookup(t, tc.ns, tc.q)); r.Tier != tc.want {
			t.Errorf("%s %q: tier %q, want %q", tc.ns, tc.q, r.Tier, tc.want)
		}
	}
	if c.Cutoffs("tenant:b/drafts").Enabled {
		t.Error("a sub-namespace did not take its parent's threshold (above 1: tier off)")
	}
	if u := c.Usage("tenant:a"); u.Entries != 2 {
		t.Errorf("tenant:a usage %+v, want both entries (the sub-namespace's counts)", u)
	}
	if _, err := c.DeleteOlderThan(ctx, "tenant:a", time.Now()); err != nil {
		t.Fatal(err)
	}
	if r := c.Get(ctx, lookup(t, "tenant:a/drafts", "what is the boiling point of water")); r.Tier != TierNone {
		t.Error("invalidating the parent left its sub-namespace's entry")
	}
}
