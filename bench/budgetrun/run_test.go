package budgetrun

import (
	"testing"
	"time"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
)

// TestRestartMidStream: the service is closed and opened again on the same
// directory halfway through a stream; what the learner learned survives
// (the namespace's counts and the entries' evidence, read back from the
// disk tier), and the served wrong-hit rate stays within the budget.
func TestRestartMidStream(t *testing.T) {
	pairs, err := eval.LoadFile("../testdata/questions.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	classes := eval.Classes(pairs)
	stream := Stream(pairs, classes, StreamOptions{N: 2500, Paraphrases: 0.3, Negatives: 0.2, Seed: 3, Model: "sim-gpt"})
	emb, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cached := embed.NewCached(emb, embed.CacheOptions{MaxEntries: 1 << 14})
	semantic := func(idx cache.Index) (cache.SemanticOptions, error) {
		return simtier.Options(simtier.Config{Embedder: cached, Index: idx, Kind: "lexical", EmbedTimeout: 10 * time.Second, SearchTimeout: 10 * time.Second})
	}
	dir := t.TempDir()
	const eps = 0.05
	out, st, err := Run(t.Context(), stream, Options{Budget: eps, Semantic: semantic, Dimension: 512, Classes: classes, Dir: dir, Seed: 1, RestartAt: len(stream) / 2})
	if err != nil {
		t.Fatal(err)
	}
	rep := Summarise(eps, out)
	t.Logf("semantic hits %d, wrong %d (%v), explored %d, candidates %d; after the restart: %+v", rep.Semantic, rep.Wrong, rep.WrongRate, rep.Explored, rep.Candidates, st)
	if rep.Semantic > 0 && rep.WrongRate.Value > eps {
		t.Errorf("served wrong-hit rate %v over the budget %v", rep.WrongRate, eps)
	}
	if rep.Candidates == 0 {
		t.Fatal("the stream produced no semantic candidates")
	}
	// The state on disk: reopen the cache and read it back.
	c, err := cache.Open(cache.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nss, err := c.BudgetStore().LoadNamespaces()
	if err != nil || len(nss) == 0 {
		t.Fatalf("no namespace state on disk: %v, %v", nss, err)
	}
	// The second half's learner started from the first half's counts:
	// its label count exceeds what the second half alone labelled.
	var labels uint64
	for _, n := range st.Labels {
		labels += n[0] + n[1]
	}
	if st.Labelled <= float64(labels) || labels == 0 {
		t.Errorf("after the restart the learner holds %v labels, %d of them from the second half: the first half's were lost", st.Labelled, labels)
	}
}
