package eval

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/semcache/semcache/cache/verify"
)

func TestPairwise(t *testing.T) {
	// Cosines with "q": d1 0.95, d2 0.85 (label 1); n1 0.9 (rejected by the
	// verifier), n2 0.5 (label 0).
	emb := &fakeEmbedder{vecs: map[string][]float32{
		"q": unit(1), "d1": unit(0.95), "d2": unit(0.85), "n1": unit(0.9), "n2": unit(0.5),
	}}
	pairs := []Pair{
		{A: "q", B: "d1", Label: 1, Source: "paws-wiki:dev", Kind: "statement"},
		{A: "q", B: "d2", Label: 1, Source: "stsb:dev:images", Kind: "statement"},
		{A: "q", B: "n1", Label: 0, Source: "paws-wiki:dev", Kind: "statement"},
		{A: "q", B: "n2", Label: 0, Source: "stsb:dev:images", Kind: "statement"},
	}
	cos := NewCosine(emb)
	cols := []Column{{"cosine", cos}, {"cosine+verifier", Gated{Inner: cos, Checker: fakeChecker{"n1": verify.ReasonNumbers}}}}
	rep, err := Pairwise(context.Background(), pairs, cols, PairwiseOptions{Bootstrap: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if emb.calls != 1 {
		t.Errorf("%d embedder calls, want 1 (Prepare batches)", emb.calls)
	}
	if len(rep.Groups) != 4 || rep.Groups[0].Group != "all" || rep.Groups[1].Group != "family=paws" || rep.Groups[2].Group != "family=stsb" || rep.Groups[3].Group != "type=statement" {
		t.Fatalf("groups %+v", rep.Groups)
	}
	all := rep.Groups[0]
	// Cosine: positives .95 .85 vs negatives .9 .5: 3 of 4 orderings.
	if got := float64(all.Columns[0].AUC); math.Abs(got-0.75) > 1e-9 {
		t.Errorf("cosine AUC = %v, want 0.75", got)
	}
	// Gated: n1 falls to -4: perfect separation.
	if got := float64(all.Columns[1].AUC); got != 1 {
		t.Errorf("gated AUC = %v, want 1", got)
	}
	if s := rep.Scored[2].Scores; math.Abs(s[0]-0.9) > 1e-6 || s[1] != -GatePenalty {
		t.Errorf("n1 scores %v", s)
	}
	// Recall at 0% FPR: cosine must stay above 0.9: only d1 (1/2); gated
	// above 0.5: both.
	at := all.Columns[0].AtFPR[0]
	if at.MaxFPR != 0.01 || math.Abs(float64(at.Threshold)-0.95) > 1e-6 || at.Recall != 0.5 {
		t.Errorf("cosine at 1%% FPR: %+v", at)
	}
	if at := all.Columns[1].AtFPR[0]; at.Recall != 1 || at.FP != 0 {
		t.Errorf("gated at 1%% FPR: %+v", at)
	}
	// One family has one positive and one negative: AUC 1 for paws
	// (.95 > .9), 1 for stsb (.85 > .5).
	if rep.Groups[1].Positives != 1 || rep.Groups[1].Negatives != 1 || rep.Groups[1].Columns[0].AUC != 1 {
		t.Errorf("paws group %+v", rep.Groups[1])
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}

	_, err = Pairwise(context.Background(), nil, nil, PairwiseOptions{FPRs: []float64{2}, Bootstrap: -1})
	for _, want := range []string{"no pairs", "no score columns", "budget 2", "-1 bootstrap"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestPairwiseNoNegatives(t *testing.T) {
	emb := &fakeEmbedder{vecs: map[string][]float32{"a": unit(1), "b": unit(0.5)}}
	rep, err := Pairwise(context.Background(), []Pair{{A: "a", B: "b", Label: 1, Source: "s", Kind: "k"}},
		[]Column{{"cosine", NewCosine(emb)}}, PairwiseOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := rep.Groups[0].Columns[0]; !math.IsNaN(float64(c.AUC)) {
		t.Errorf("AUC without negatives = %v", c.AUC)
	}
	b, err := json.Marshal(rep.Groups[0].Columns[0])
	if err != nil || !strings.Contains(string(b), `"auc":null`) {
		t.Errorf("JSON %s, %v", b, err)
	}
}
