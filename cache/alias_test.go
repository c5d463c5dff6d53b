package cache

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/semcache/semcache/vectorstore"
)

// gatedIndex holds every Upsert until release is closed, like a vector
// store that is slow to index.
type gatedIndex struct {
	bruteIndex
	release chan struct{}
	once    sync.Once
}

func (g *gatedIndex) Upsert(ctx context.Context, recs []vectorstore.Record) error {
	<-g.release
	return g.bruteIndex.Upsert(ctx, recs)
}

func (g *gatedIndex) open() { g.once.Do(func() { close(g.release) }) }

// TestPendingVectorsVisible: an answer delivered a moment ago is findable
// by a paraphrase before the write-back has indexed it.
func TestPendingVectorsVisible(t *testing.T) {
	emb := &bagEmbedder{}
	idx := &gatedIndex{release: make(chan struct{})}
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer idx.open()
	ctx := context.Background()
	stored := lookup(t, "a", "how do I reverse a list in python")
	res := c.Get(ctx, stored)
	c.Put(stored, answer, res.Vector, 0, nil)

	para := c.Get(ctx, lookup(t, "a", "in python how do I reverse a list?"))
	if para.Tier != TierSemantic || para.Entry.Answer.Text != "42" {
		t.Fatalf("paraphrase right after the write: %+v, want a semantic hit from the pending entry", para)
	}
	if other := c.Get(ctx, lookup(t, "b", "in python how do I reverse a list?")); other.Tier != TierNone {
		t.Fatal("another tenant saw a pending vector")
	}
	idx.open()
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c.pendingMu.RLock()
	n := len(c.pendingVecs)
	c.pendingMu.RUnlock()
	if n != 0 {
		t.Fatalf("%d pending vector groups left after the write-back", n)
	}
	if r := c.Get(ctx, lookup(t, "a", "in python how do I reverse a list?")); r.Tier != TierSemantic {
		t.Fatalf("after indexing: %+v", r)
	}
}

// TestAliasWriteBack: a served semantic hit indexes the query's wording as
// an alias, so a wording close to it but far from the original hits; the
// alias is one hop, carries the current answer, and dies with its entry.
func TestAliasWriteBack(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	c := semanticCache(t, emb, idx, nil)
	ctx := context.Background()
	get := func(q string) Result { return c.Get(ctx, lookup(t, "a", q)) }

	orig := lookup(t, "a", "alpha beta gamma delta")
	c.Put(orig, answer, c.Get(ctx, orig).Vector, 0, nil)
	_ = c.Flush(ctx)

	// 3 of 4 words shared: cosine 0.75, a hit at threshold 0.7.
	second := lookup(t, "a", "alpha beta gamma epsilon")
	hit := c.Get(ctx, second)
	if hit.Tier != TierSemantic || hit.ViaAlias {
		t.Fatalf("second wording: %+v", hit)
	}
	// Two words away from the original (0.5), one from the second (0.75).
	const third = "alpha beta zeta epsilon"
	if r := get(third); r.Tier != TierNone {
		t.Fatalf("third wording hit before any alias: %+v", r)
	}
	c.Alias(second, hit)
	_ = c.Flush(ctx)
	r := get(third)
	if r.Tier != TierSemantic || !r.ViaAlias || r.Entry.ID != hit.Entry.ID || r.Entry.Answer.Text != "42" {
		t.Fatalf("third wording after the alias: %+v, want a hit of the entry through its alias", r)
	}
	// One hop: a hit through an alias creates no alias of its own.
	c.Alias(lookup(t, "a", third), r)
	_ = c.Flush(ctx)
	if r := get("alpha theta zeta epsilon"); r.Tier != TierNone {
		t.Fatalf("an alias of an alias was created: %+v", r)
	}
	aliases := 0
	idx.mu.Lock()
	for id := range idx.recs {
		if strings.Contains(id, "~") {
			aliases++
		}
	}
	idx.mu.Unlock()
	if aliases != 1 {
		t.Fatalf("%d alias records, want 1", aliases)
	}

	// The alias serves the entry's current answer after a refresh.
	fresh := answer
	fresh.Text = "43"
	c.Put(orig, fresh, nil, 0, nil)
	_ = c.Flush(ctx)
	if r := get(third); r.Tier != TierSemantic || r.Entry.Answer.Text != "43" {
		t.Fatalf("alias after the entry was refreshed: %+v, want the new answer", r)
	}

	// Deleting the entry deletes its aliases.
	if ok, err := c.DeleteEntry(ctx, "a", hit.Entry.Key); !ok || err != nil {
		t.Fatalf("DeleteEntry = %v, %v", ok, err)
	}
	if r := get(third); r.Tier != TierNone {
		t.Fatalf("alias served after its entry was deleted: %+v", r)
	}
	idx.mu.Lock()
	left := len(idx.recs)
	idx.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d records left in the index after deleting the only entry", left)
	}
}

// TestContextMode: in context mode a request's earlier user turns travel
// with its prompt as context (wire/chat puts them there and leaves them
// out of the partition), so the judge sees both; a follow-up in another
// conversation is refused by the judge, not hidden by the partition.
func TestContextMode(t *testing.T) {
	lookupOf := func(opening, followup string) Lookup {
		return Lookup{Namespace: "n", Endpoint: "chat", Model: "m", Key: []byte(opening + "|" + followup),
			Prompt: followup, Context: opening, Partition: []byte(`{"model":"m"}`)}
	}
	a := lookupOf("What is the significance of DNA?", "what does it stand for")
	b := lookupOf("What is the significance of RNA?", "what does it stand for")
	if got := EmbedText(a.Prompt, a.Context); got != "What is the significance of DNA?\nwhat does it stand for" {
		t.Errorf("embed text %q", got)
	}
	if EmbedText("p", "") != "p" {
		t.Error("a prompt without context is embedded as is")
	}

	emb, idx := &bagEmbedder{}, &bruteIndex{}
	sameCtx := VerifyFunc(func(q, c string, _ float32) string { return "" })
	c := semanticCache(t, emb, idx, sameCtx)
	ctx := context.Background()
	c.Put(a, answer, c.Get(ctx, a).Vector, 0, nil)
	_ = c.Flush(ctx)
	r := c.Get(ctx, b)
	if r.Tier != TierNone {
		t.Fatalf("follow-up after another opening: %+v, want a miss", r)
	}
	if len(r.Rejections) == 0 || r.Rejections[0].Reason != "context" {
		t.Errorf("rejections %+v, want the context one", r.Rejections)
	}
	if r := c.Get(ctx, lookupOf("What is the significance of DNA?", "What does it stand for?")); r.Tier != TierSemantic {
		t.Errorf("same conversation, reworded follow-up: %+v, want a semantic hit", r)
	}
}

// TestAliasKeepsOriginalRules: a hit through an alias still needs the
// judge's rules to pass against the entry's own prompt.
func TestAliasKeepsOriginalRules(t *testing.T) {
	emb, idx := &bagEmbedder{}, &bruteIndex{}
	const orig = "alpha beta gamma delta"
	veto := VerifyFunc(func(q, cand string, _ float32) string {
		if strings.Contains(q, "zeta") && cand == orig {
			return "difference"
		}
		return ""
	})
	c := semanticCache(t, emb, idx, veto)
	ctx := context.Background()
	lo := lookup(t, "a", orig)
	c.Put(lo, answer, c.Get(ctx, lo).Vector, 0, nil)
	_ = c.Flush(ctx)
	second := lookup(t, "a", "alpha beta gamma epsilon")
	hit := c.Get(ctx, second)
	if hit.Tier != TierSemantic {
		t.Fatalf("second wording: %+v", hit)
	}
	c.Alias(second, hit)
	_ = c.Flush(ctx)
	r := c.Get(ctx, lookup(t, "a", "alpha beta zeta epsilon"))
	if r.Tier != TierNone {
		t.Fatalf("served through the alias although the original's rule vetoes: %+v", r)
	}
	if len(r.Rejections) == 0 || r.Rejections[0].Reason != "difference" {
		t.Errorf("rejections %+v, want the original's veto", r.Rejections)
	}
}
