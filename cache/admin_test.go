package cache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// warmItems are a short answer and a full one with its own lifetime.
func warmItems(t *testing.T, ns string) []WarmItem {
	first := answer
	first.Text = "Use reversed() or list.reverse()."
	second := answer
	second.Text, second.Model = "Paris.", "m-2024"
	return []WarmItem{
		{Lookup: lookup(t, ns, "how do I reverse a list in python"), Answer: first},
		{Lookup: lookup(t, ns, "what is the capital of france"), Answer: second, TTL: time.Minute},
	}
}

func TestWarmServesThenDeleteNamespaceForgets(t *testing.T) {
	for _, dir := range []string{"", t.TempDir()} {
		t.Run("disk="+map[bool]string{true: "yes", false: "no"}[dir != ""], func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			emb, idx := &bagEmbedder{}, &bruteIndex{}
			c, err := Open(Options{MaxBytes: 1 << 20, Dir: dir, Now: clk.now, Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			n, err := c.Warm(ctx, warmItems(t, "a"))
			if err != nil || n != 2 {
				t.Fatalf("warm = %d, %v", n, err)
			}
			c.Put(lookup(t, "b", "how do I reverse a list in python"), answer, nil, 0, nil)
			if err := c.Flush(ctx); err != nil {
				t.Fatal(err)
			}

			tests := []struct {
				name, ns, prompt string
				tier             Tier
				content, model   string
			}{
				{"exact, short form", "a", "how do I reverse a list in python", TierExact, "Use reversed() or list.reverse().", "m"},
				{"exact, full form", "a", "what is the capital of france", TierExact, "Paris.", "m-2024"},
				{"paraphrase", "a", "in python how do I reverse a list?", TierSemantic, "Use reversed() or list.reverse().", "m"},
				{"other namespace", "c", "what is the capital of france", TierNone, "", ""},
			}
			for _, tt := range tests {
				r := c.Get(ctx, lookup(t, tt.ns, tt.prompt))
				if r.Tier != tt.tier {
					t.Fatalf("%s: tier %q, want %q", tt.name, r.Tier, tt.tier)
				}
				if tt.tier != TierNone && (r.Entry.Answer.Text != tt.content || r.Entry.Answer.Model != tt.model) {
					t.Errorf("%s: answer %+v", tt.name, r.Entry.Answer)
				}
			}
			r := c.Get(ctx, lookup(t, "a", "what is the capital of france"))
			if got := r.Entry.ExpiresAt.Sub(r.Entry.CreatedAt); got != time.Minute {
				t.Errorf("ttl_seconds ignored: lifetime %s", got)
			}

			clk.add(time.Second)
			n, err = c.DeleteNamespace(ctx, "a")
			if err != nil || n != 2 {
				t.Fatalf("delete namespace = %d, %v", n, err)
			}
			for _, p := range []string{"how do I reverse a list in python", "what is the capital of france", "in python how do I reverse a list?"} {
				if r := c.Get(ctx, lookup(t, "a", p)); r.Tier != TierNone {
					t.Errorf("%q still served from %s after deleting the namespace", p, r.Tier)
				}
			}
			if r := c.Get(ctx, lookup(t, "b", "how do I reverse a list in python")); r.Tier != TierExact {
				t.Error("deleting namespace a removed namespace b's entry")
			}
			for id, rec := range idx.recs {
				if rec.Namespace == "a" {
					t.Errorf("similarity tier still holds %s of namespace a", id)
				}
			}
			// The namespace is usable again afterwards.
			clk.add(time.Second)
			if n, err := c.Warm(ctx, warmItems(t, "a")); err != nil || n != 2 {
				t.Fatalf("re-warm = %d, %v", n, err)
			}
			if r := c.Get(ctx, lookup(t, "a", "what is the capital of france")); r.Tier != TierExact {
				t.Fatalf("re-warmed entry not served: %q", r.Tier)
			}
		})
	}
}

func TestWarmNeedsNamespaces(t *testing.T) {
	c, err := Open(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	items := warmItems(t, "a")
	items[1].Lookup.Namespace = ""
	if n, err := c.Warm(context.Background(), items); !errors.Is(err, ErrInvalid) || n != 0 {
		t.Fatalf("warm = %d, %v; want ErrInvalid", n, err)
	}
	if r := c.Get(context.Background(), items[0].Lookup); r.Tier != TierNone {
		t.Fatal("a good item was stored although another was bad")
	}
}

// putAt stores a prompt's answer at the clock's current time.
func putAt(t *testing.T, c *Cache, clk *clock, ns, prompt, content string) *Entry {
	t.Helper()
	a := answer
	a.Text = content
	e := c.Put(lookup(t, ns, prompt), a, nil, 0, nil)
	clk.add(time.Minute)
	return e
}

func TestListSearchAndExport(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	c, err := Open(Options{MaxBytes: 1 << 20, Dir: t.TempDir(), Now: clk.now, TTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	first := putAt(t, c, clk, "a", "alpha question", "first answer")
	putAt(t, c, clk, "b", "alpha question", "other tenant")
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	second := putAt(t, c, clk, "a", "beta question", "second answer") // may still be queued
	third := putAt(t, c, clk, "a", "gamma question", "ALPHA in the answer")

	tests := []struct {
		name string
		q    ListQuery
		want []*Entry
	}{
		{"all, newest first", ListQuery{}, []*Entry{third, second, first}},
		{"limit", ListQuery{Limit: 2}, []*Entry{third, second}},
		{"search prompt and answer, any case", ListQuery{Search: "Alpha"}, []*Entry{third, first}},
		{"search by id", ListQuery{Search: second.ID}, []*Entry{second}},
		{"no match", ListQuery{Search: "zeta"}, nil},
	}
	for _, tt := range tests {
		got, err := c.List(ctx, "a", tt.q)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(got) != len(tt.want) {
			t.Fatalf("%s: %d entries, want %d", tt.name, len(got), len(tt.want))
		}
		for i := range got {
			if got[i].Key != tt.want[i].Key {
				t.Errorf("%s: entry %d is %q, want %q", tt.name, i, got[i].Answer.Text, tt.want[i].Answer.Text)
			}
		}
	}

	var buf bytes.Buffer
	if err := c.Export(ctx, "a", &buf); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		e, err := UnmarshalEntry(sc.Bytes())
		if err != nil || e.Namespace != "a" {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		seen[e.Key] = true
	}
	if len(seen) != 3 || !seen[first.Key] || !seen[second.Key] || !seen[third.Key] {
		t.Fatalf("export holds %d entries of a, want 3", len(seen))
	}

	ns, err := c.Namespaces(ctx)
	if err != nil || len(ns) != 2 || ns[0].Namespace != "a" || ns[0].Entries != 3 || ns[1].Entries != 1 ||
		!ns[0].Oldest.Equal(first.CreatedAt) || !ns[0].Newest.Equal(third.CreatedAt) {
		t.Fatalf("namespaces = %+v, %v", ns, err)
	}

	// Expired entries are neither listed nor exported.
	clk.add(25 * time.Hour)
	if got, _ := c.List(ctx, "a", ListQuery{}); len(got) != 0 {
		t.Fatalf("expired entries listed: %d", len(got))
	}
}

func TestAdminNeedsDiskAndValidates(t *testing.T) {
	c, err := Open(Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	e := c.Put(lookup(t, "a", "hot only"), answer, nil, 0, nil)
	tests := []struct {
		name string
		run  func() error
		want error
	}{
		{"list", func() error { _, err := c.List(ctx, "a", ListQuery{}); return err }, ErrNeedsDisk},
		{"export", func() error { return c.Export(ctx, "a", &bytes.Buffer{}) }, ErrNeedsDisk},
		{"namespaces", func() error { _, err := c.Namespaces(ctx); return err }, ErrNeedsDisk},
		{"short id without disk", func() error { _, err := c.DeleteEntry(ctx, "a", "00112233445566778899aabb"); return err }, ErrNeedsDisk},
		{"empty namespace", func() error { _, err := c.DeleteNamespace(ctx, ""); return err }, ErrInvalid},
		{"bad id", func() error { _, err := c.DeleteEntry(ctx, "a", "xyz"); return err }, ErrInvalid},
		{"future time", func() error { _, err := c.DeleteOlderThan(ctx, "a", time.Now().Add(time.Hour)); return err }, ErrInvalid},
		{"negative limit", func() error { _, err := c.List(ctx, "a", ListQuery{Limit: -1}); return err }, ErrInvalid},
	}
	for _, tt := range tests {
		if err := tt.run(); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	// The full key works on the hot tier alone.
	if ok, err := c.DeleteEntry(ctx, "a", e.Key); !ok || err != nil {
		t.Fatalf("delete by key = %v, %v", ok, err)
	}
	if r := c.Get(ctx, lookup(t, "a", "hot only")); r.Tier != TierNone {
		t.Fatal("deleted entry still served")
	}
}

func TestDeleteEntryAndOlderThan(t *testing.T) {
	clk := &clock{t: time.Unix(1_700_000_000, 0)}
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c, err := Open(Options{MaxBytes: 1 << 20, Dir: t.TempDir(), Now: clk.now, Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	old := putAt(t, c, clk, "a", "an old question", "old")
	mid := putAt(t, c, clk, "a", "a middle question", "mid")
	recent := putAt(t, c, clk, "a", "a recent question", "new")
	other := putAt(t, c, clk, "b", "an old question", "b's")
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	deletes := []struct {
		name, ns, id string
		want         bool
	}{
		{"wrong namespace", "b", mid.ID, false},
		{"by short id", "a", mid.ID, true},
		{"again", "a", mid.ID, false},
		{"unknown key", "a", strings.Repeat("ab", 32), false},
	}
	for _, tt := range deletes {
		if ok, err := c.DeleteEntry(ctx, tt.ns, tt.id); ok != tt.want || err != nil {
			t.Errorf("%s: deleted = %v, %v; want %v", tt.name, ok, err, tt.want)
		}
	}
	if _, err := c.Entry(ctx, "a", mid.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted entry still found: %v", err)
	}
	if _, ok := idx.recs[mid.Key]; ok {
		t.Fatal("deleted entry still in the similarity tier")
	}

	n, err := c.DeleteOlderThan(ctx, "a", old.CreatedAt.Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("delete older than = %d, %v", n, err)
	}
	checks := []struct {
		ns, prompt string
		want       Tier
	}{
		{"a", "an old question", TierNone},
		{"a", "a middle question", TierNone},
		{"a", "a recent question", TierExact},
		{"b", "an old question", TierExact},
	}
	for _, ck := range checks {
		if r := c.Get(ctx, lookup(t, ck.ns, ck.prompt)); r.Tier != ck.want {
			t.Errorf("%s/%q: tier %q, want %q", ck.ns, ck.prompt, r.Tier, ck.want)
		}
	}
	if e, err := c.Entry(ctx, "a", recent.Key); err != nil || e.Answer.Text != "new" {
		t.Fatalf("entry by key = %+v, %v", e, err)
	}
	if _, ok := idx.recs[other.Key]; !ok {
		t.Fatal("another namespace's record left the similarity tier")
	}
}

func TestDeleteNamespaceSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l := lookup(t, "a", "forget me")
	c.Put(l, answer, nil, 0, nil)
	if n, err := c.DeleteNamespace(context.Background(), "a"); err != nil || n != 1 {
		t.Fatalf("delete = %d, %v", n, err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	c2, err := Open(Options{MaxBytes: 1 << 20, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if r := c2.Get(context.Background(), l); r.Tier != TierNone {
		t.Fatal("deleted namespace's entry came back after a restart")
	}
	c2.invalMu.RLock()
	_, ok := c2.inval["a"]
	c2.invalMu.RUnlock()
	if !ok {
		t.Fatal("invalidation not persisted")
	}
}
