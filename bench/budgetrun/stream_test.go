package budgetrun

import (
	"testing"

	"github.com/semcache/semcache/bench/eval"
)

// TestTopicsLabelEveryRelation: within a topic every two texts are either
// of one class or of two classes a label-0 pair puts apart, and no two
// topics hold near-duplicate texts (the relation of such texts is not
// labelled).
func TestTopicsLabelEveryRelation(t *testing.T) {
	mk := func(a, b string, label int) eval.Pair {
		return eval.Pair{A: a, B: b, Label: label, Source: "t", Kind: "statement"}
	}
	pairs := []eval.Pair{
		mk("how do I reset my router", "what is the way to reset a router", 1),
		mk("how do I reset my router", "how do I reset my modem", 0),
		mk("how do I reset my modem", "how can I reset the modem", 1),
		mk("how do I reset my router", "how do I rename my router", 0),
		// a near-duplicate of the first text in another pair: its
		// relation to the first group is not labelled
		mk("how do I reset my router quickly", "what is the capital of peru", 0),
		mk("when was the eiffel tower built", "what year was the eiffel tower finished", 1),
	}
	classes := eval.Classes(pairs)
	classOf := func(s string) eval.ClassID { return classes.Of(eval.Side{Text: s}.Key()) }
	negs := map[[2]eval.ClassID]bool{}
	for _, p := range pairs {
		if p.Label == 0 {
			a, b := classOf(p.A), classOf(p.B)
			negs[[2]eval.ClassID{a, b}], negs[[2]eval.ClassID{b, a}] = true, true
		}
	}
	for seed := range uint64(20) {
		tps := Topics(pairs, classes, seed, 0)
		if len(tps) != 2 {
			t.Fatalf("seed %d: %d topics, want 2 (the router group with its near-duplicate, the tower): %+v", seed, len(tps), tps)
		}
		where := map[string]int{}
		for i, tp := range tps {
			texts := append(append([]string(nil), tp.Same...), tp.Other...)
			for _, a := range texts {
				if j, ok := where[a]; ok && j != i {
					t.Fatalf("seed %d: %q in topics %d and %d", seed, a, j, i)
				}
				where[a] = i
				for _, b := range texts {
					ca, cb := classOf(a), classOf(b)
					if ca != cb && !negs[[2]eval.ClassID{ca, cb}] {
						t.Errorf("seed %d: %q and %q share a topic without a label", seed, a, b)
					}
				}
			}
			for _, s := range tp.Same {
				if classOf(s) != classOf(tp.Same[0]) {
					t.Errorf("seed %d: Same mixes classes: %q", seed, tp.Same)
				}
			}
		}
	}
}

// TestStreamShares: the stream has the kinds in the shares asked, every
// request's class is its text's, and a partition never asks two topics'
// texts that are near-duplicates.
func TestStreamShares(t *testing.T) {
	pairs, err := eval.LoadFile("../testdata/questions.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	classes := eval.Classes(pairs)
	s := Stream(pairs, classes, StreamOptions{N: 4000, Paraphrases: 0.3, Negatives: 0.2, Seed: 5, Model: "m"})
	if len(s) != 4000 {
		t.Fatalf("%d requests", len(s))
	}
	kinds := map[string]int{}
	models := map[string]bool{}
	for _, r := range s {
		kinds[r.Kind]++
		models[r.Model] = true
		if r.Class != classes.Of(eval.Side{Text: r.Text}.Key()) {
			t.Fatalf("%q: class %s", r.Text, r.Class)
		}
	}
	for kind, want := range map[string]float64{KindParaphrase: 0.3, KindNegative: 0.2, KindNew: 0.5} {
		if got := float64(kinds[kind]) / float64(len(s)); got < want-0.05 || got > want+0.05 {
			t.Errorf("%s: share %.3f, want about %.2f", kind, got, want)
		}
	}
	if len(models) < 2 {
		t.Errorf("the stream never moved to a new partition: %v", models)
	}
}
