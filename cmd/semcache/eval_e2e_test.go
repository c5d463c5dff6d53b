package main

import (
	"bufio"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/lexical"
)

// TestEvalE2EMatchesCacheMode is the acceptance of the evaluation: the
// served wrong-answer rate over HTTP equals the decision-level rate. It
// replays the fixture pairs over HTTP against a real semcache (lexical
// embedder) whose upstream is the oracle, then through the in-process
// lookup path with the same pairs, seed and sizes, and requires the same
// outcome for every query: tier, and class of the served answer.
func TestEvalE2EMatchesCacheMode(t *testing.T) {
	pairs, err := eval.LoadFile("../../bench/eval/testdata/fixture.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	distractors := readLines(t, "../../bench/eval/testdata/distractors.txt")
	classes := eval.Classes(pairs)
	up := httptest.NewServer(upstream.New(upstream.Options{Answerer: eval.Oracle(classes)}))
	t.Cleanup(up.Close)
	// A permissive cut-off on both sides, so the fixture produces wrong
	// answers to compare as well as right ones.
	s := start(t, up.URL+"/v1", t.TempDir(), "--embed-timeout", "10s", "--search-timeout", "10s", "--semantic-min-score", "0.01", "--similarity-threshold", "0.5")

	opts := eval.ReplayOptions{Sizes: []int{12, 40}, Seed: 5, Classes: classes, Distractors: distractors}
	httpBackend, err := eval.NewHTTPBackend(eval.HTTPBackendOptions{Target: s.api + "/v1", Admin: s.admin})
	if err != nil {
		t.Fatal(err)
	}
	e2e, err := eval.Replay(t.Context(), pairs, httpBackend, opts)
	if err != nil {
		t.Fatal(err)
	}

	emb, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	cacheBackend, err := eval.NewCacheBackend(eval.CacheBackendOptions{Embedder: emb, Dir: t.TempDir(),
		Semantic: func(e cache.Embedder, idx cache.Index) (cache.SemanticOptions, error) {
			return simtier.Options(simtier.Config{Embedder: e, Index: idx, Kind: "lexical", Threshold: 0.5, EmbedTimeout: 10 * time.Second, SearchTimeout: 10 * time.Second,
				Verifier: verify.Options{MinScore: 0.01}})
		}})
	if err != nil {
		t.Fatal(err)
	}
	inProc, err := eval.Replay(t.Context(), pairs, cacheBackend, opts)
	if err != nil {
		t.Fatal(err)
	}

	var wrongServed, semantic int
	for i, want := range inProc.Sizes {
		got := e2e.Sizes[i]
		if len(got.Records) != len(want.Records) {
			t.Fatalf("size %d: %d records over HTTP, %d in process", want.Size, len(got.Records), len(want.Records))
		}
		for j, w := range want.Records {
			g := got.Records[j]
			if g.Pair != w.Pair || g.Outcome.Tier != w.Outcome.Tier || g.Served != w.Served {
				t.Errorf("size %d, query %d (%q): over HTTP %s served %q, in process %s served %q", want.Size, j, pairs[w.Pair].B,
					tierName(g.Outcome.Tier), g.Served, tierName(w.Outcome.Tier), w.Served)
			}
		}
		ga, _ := rowOf(got, "all")
		wa, _ := rowOf(want, "all")
		if ga.ServedWrong != wa.ServedWrong || ga.FalseHit != wa.FalseHit || ga.WrongHit != wa.WrongHit || ga.Recall != wa.Recall {
			t.Errorf("size %d: over HTTP served wrong %v, false hits %v, wrong hits %v, recall %v; in process %v, %v, %v, %v", want.Size,
				ga.ServedWrong, ga.FalseHit, ga.WrongHit, ga.Recall, wa.ServedWrong, wa.FalseHit, wa.WrongHit, wa.Recall)
		}
		if got.DuplicateRecall.Value != 1 || want.DuplicateRecall.Value != 1 {
			t.Errorf("size %d: duplicate recall %v over HTTP, %v in process", want.Size, got.DuplicateRecall, want.DuplicateRecall)
		}
		wrongServed += wa.ServedWrong.X
		semantic += wa.SemanticHits
	}
	// The comparison means something only if both kinds of outcome occur.
	if wrongServed == 0 || semantic == 0 {
		t.Errorf("the fixture produced %d wrong answers and %d semantic hits; the comparison needs both", wrongServed, semantic)
	}
}

func tierName(t string) string {
	if t == "" {
		return "miss"
	}
	return t
}

func rowOf(s eval.SizeReport, group string) (eval.Row, bool) {
	for _, r := range s.Rows {
		if r.Group == group {
			return r, true
		}
	}
	return eval.Row{}, false
}

func readLines(t *testing.T, path string) []eval.Side {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []eval.Side
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out = append(out, eval.Side{Text: line})
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
