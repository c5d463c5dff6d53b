package cache

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

// TestPendingCandidatesMerge: pending vectors at or above the threshold
// join the store's candidates best first, without repeating an entry the
// store returned, cut to topK.
func TestPendingCandidatesMerge(t *testing.T) {
	unit := func(x float32) []float32 { return []float32{x, 0} }
	entry := func(key string) *Entry { return &Entry{Key: key, Prompt: "p " + key} }
	stored := entry("s")
	dupOfStored := *stored // the same entry, another pointer
	pv := []pendingVec{
		{entry: entry("low"), vector: unit(0.5)},
		{entry: &dupOfStored, vector: unit(0.95)},
		{entry: entry("a"), vector: unit(0.9)},
		{entry: entry("b"), vector: unit(0.99)},
		{entry: entry("c"), vector: unit(0.8)},
		{entry: entry("d"), vector: unit(0.85)},
		{entry: entry("wrong-dim"), vector: []float32{1}},
	}
	for _, tc := range []struct {
		name  string
		topK  int
		store []candidate
		want  string
	}{
		{"no store hits", 3, nil, "b s a"},
		{"store hit kept, its pending copy dropped", 3, []candidate{{entry: stored, score: 0.95}}, "b s a"},
		{"topK 10", 10, []candidate{{entry: stored, score: 0.95}}, "b s a d c"},
		{"store hit below the pending", 2, []candidate{{entry: stored, score: 0.7}}, "b a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Cache{pendingVecs: map[string][]pendingVec{groupKey("ns", "p"): pv}}
			got := c.pendingCandidates("ns", "p", unit(1), 0.75, tc.topK, slices.Clone(tc.store))
			var keys []string
			for _, cand := range got {
				keys = append(keys, cand.entry.Key)
			}
			if s := strings.Join(keys, " "); s != tc.want {
				t.Fatalf("candidates %q, want %q", s, tc.want)
			}
		})
	}
}

// TestPendingCandidatesSelection: the bounded selection gives what
// sorting every pending vector gives, with tied scores, pending copies of
// the store's candidates (one entry pending several times) and many
// pending answers.
func TestPendingCandidatesSelection(t *testing.T) {
	byScore := func(x, y candidate) int { return cmp.Compare(y.score, x.score) }
	isDup := func(x, p candidate) bool {
		return x.entry == p.entry || x.entry.Key == p.entry.Key && x.entry.Prompt == p.entry.Prompt && x.entry.Context == p.entry.Context
	}
	// reference: every pending vector at or above the threshold, sorted,
	// taken best first unless it repeats one taken (as the merge was
	// before the bounded selection).
	reference := func(pv []pendingVec, vec []float32, threshold float32, topK int, cands []candidate) []candidate {
		var extra []candidate
		for _, p := range pv {
			if s := dot(p.vector, vec); s >= threshold {
				extra = append(extra, candidate{entry: p.entry, score: s})
			}
		}
		slices.SortStableFunc(extra, byScore)
		out := slices.Clone(cands)
		for _, p := range extra {
			if len(out)-len(cands) >= topK {
				break
			}
			if !slices.ContainsFunc(out, func(x candidate) bool { return isDup(x, p) }) {
				out = append(out, p)
			}
		}
		slices.SortStableFunc(out, byScore)
		return out[:min(len(out), topK)]
	}
	rng := rand.New(rand.NewPCG(7, 11))
	for run := range 300 {
		n := 1 + rng.IntN(400)
		entries := make([]*Entry, 1+rng.IntN(n))
		for i := range entries {
			entries[i] = &Entry{Key: fmt.Sprint("k", i), Prompt: "p"}
		}
		pv := make([]pendingVec, n)
		for i := range pv {
			// Coarse scores: many ties. Entries repeat: one entry pending
			// several times.
			x := float32(rng.IntN(20)) / 20
			pv[i] = pendingVec{entry: entries[rng.IntN(len(entries))], vector: []float32{x, 0}}
		}
		var store []candidate
		for range rng.IntN(4) {
			e := entries[rng.IntN(len(entries))]
			if rng.IntN(2) == 0 {
				cp := *e // the same entry, another pointer
				e = &cp
			}
			store = append(store, candidate{entry: e, score: float32(rng.IntN(20)) / 20})
		}
		slices.SortStableFunc(store, byScore)
		topK := 1 + rng.IntN(6)
		c := &Cache{pendingVecs: map[string][]pendingVec{groupKey("ns", "p"): pv}}
		got := c.pendingCandidates("ns", "p", []float32{1, 0}, 0.3, topK, slices.Clone(store))
		want := reference(pv, []float32{1, 0}, 0.3, topK, store)
		if !slices.Equal(got, want) {
			t.Fatalf("run %d (n=%d, topK=%d, %d from the store): got %v, want %v", run, n, topK, len(store), got, want)
		}
	}
}

// TestSemanticHitEntrySource: a search hit's entry comes from the hot tier
// when it holds it, and from the record's payload when it does not; the
// hit is the same either way.
func TestSemanticHitEntrySource(t *testing.T) {
	emb := &bagEmbedder{}
	c, err := Open(Options{Semantic: &SemanticOptions{Embedder: emb, Index: &bruteIndex{}, Threshold: 0.7}})
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
	para := lookup(t, "a", "in python how do I reverse a list?")
	hot := c.Get(ctx, para)
	c.hot.del(stored.key())
	c.hot.rc.Wait()
	decoded := c.Get(ctx, para)
	for name, r := range map[string]Result{"hot": hot, "decoded": decoded} {
		if r.Tier != TierSemantic || r.Entry.Answer.Text != "42" || r.Entry.Prompt != stored.Prompt {
			t.Fatalf("%s: %+v, want a semantic hit on the stored entry", name, r)
		}
	}
}

// TestIndexPayloadIsDiskEncoding: with a disk tier, the vector store's
// record carries the entry as the disk tier stored it (encoded once), and
// an alias record its own encoding.
func TestIndexPayloadIsDiskEncoding(t *testing.T) {
	emb := &bagEmbedder{}
	idx := &bruteIndex{}
	c, err := Open(Options{Dir: t.TempDir(), Semantic: &SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.7}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	l := lookup(t, "a", "how do I reverse a list in python")
	e := c.Put(l, answer, nil, 0, nil)
	para := lookup(t, "a", "in python how do I reverse a list?")
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	res := c.Get(ctx, para)
	if res.Tier != TierSemantic {
		t.Fatalf("paraphrase: %+v", res)
	}
	c.Alias(para, res)
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	disk, err := c.disk.get(l.key())
	if err != nil || disk == nil {
		t.Fatalf("disk: %v %v", disk, err)
	}
	want, _ := MarshalEntry(disk)
	idx.mu.Lock()
	defer idx.mu.Unlock()
	rec, ok := idx.recs[e.Key]
	if !ok || string(rec.Payload) != string(want) {
		t.Fatalf("record payload\n%s\nwant the disk encoding\n%s", rec.Payload, want)
	}
	aliases := 0
	for id, r := range idx.recs {
		if id == e.Key {
			continue
		}
		a, err := UnmarshalEntry(r.Payload)
		if err != nil || a.AliasOf != e.Key || a.Prompt != para.Prompt {
			t.Fatalf("alias record %s: %+v %v", id, a, err)
		}
		aliases++
	}
	if aliases != 1 {
		t.Fatalf("%d alias records, want 1", aliases)
	}
}

// BenchmarkPendingCandidates: one lookup's merge of the pending answers
// (1,000 of 512-d, as a 32-client lexical miss run keeps pending; a third
// of them above the threshold) with the store's five candidates.
func BenchmarkPendingCandidates(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dim, n = 512, 1000
	unit := func(mix float32, base []float32) []float32 {
		v := make([]float32, dim)
		var norm float32
		for i := range v {
			v[i] = mix*base[i] + float32(rng.NormFloat64())
			norm += v[i] * v[i]
		}
		for i := range v {
			v[i] /= float32(math.Sqrt(float64(norm)))
		}
		return v
	}
	zero := make([]float32, dim)
	q := unit(0, zero)
	pv := make([]pendingVec, n)
	for i := range pv {
		mix := float32(0)
		if i%3 == 0 {
			mix = 40 // close to the query
		}
		pv[i] = pendingVec{entry: &Entry{Key: fmt.Sprint("k", i)}, vector: unit(mix, q)}
	}
	var store []candidate
	for i := range 5 {
		store = append(store, candidate{entry: &Entry{Key: fmt.Sprint("s", i)}, score: 0.9 - float32(i)/100})
	}
	c := &Cache{pendingVecs: map[string][]pendingVec{groupKey("ns", "p"): pv}}
	b.ReportAllocs()
	for b.Loop() {
		if got := c.pendingCandidates("ns", "p", q, 0.5, 5, store); len(got) != 5 {
			b.Fatalf("%d candidates", len(got))
		}
	}
}
