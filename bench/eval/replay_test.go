package eval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/semcache/semcache/cache"
)

const fakeDim = 40

// vecEmbedder maps texts to fixed vectors.
type vecEmbedder struct {
	vecs  map[string][]float32
	calls int
}

func (v *vecEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	v.calls++
	out := make([][]float32, len(texts))
	for i, t := range texts {
		vec, ok := v.vecs[t]
		if !ok {
			return nil, errors.New("vecEmbedder: unknown text " + t)
		}
		out[i] = append([]float32(nil), vec...)
	}
	return out, nil
}
func (v *vecEmbedder) Dimension() int  { return fakeDim }
func (v *vecEmbedder) ModelID() string { return "fake-vectors" }

// axis is the unit vector along dimension i.
func axis(i int) []float32 {
	v := make([]float32, fakeDim)
	v[i] = 1
	return v
}

// mix returns c*base + sqrt(1-c²)*axis(fresh): cosine c with base (a unit
// vector) and orthogonal to every other axis but fresh.
func mix(base []float32, c float64, fresh int) []float32 {
	v := make([]float32, fakeDim)
	for i := range v {
		v[i] = float32(c) * base[i]
	}
	v[fresh] += float32(math.Sqrt(1 - c*c))
	return v
}

// replayFixture is a set of pairs whose cache-level outcome is known by
// construction; see TestReplayCounts.
func replayFixture() ([]Pair, []Side, *vecEmbedder) {
	q := func(a, b string, label int, typ string) Pair {
		return Pair{A: a, B: b, Label: label, Source: "t:x", Kind: "question", Type: typ}
	}
	pairs := []Pair{
		q("alpha", "alpha again", 1, "semantic-right"),
		q("beta", "beta twin", 0, "semantic-wrong"),
		q("gamma", "gamma far", 1, "write-back"),
		q("delta", "delta echo", 0, "write-back"),
		q("epsilon", "epsilon", 1, "exact"),
		q("Zeta", "zeta", 1, "case"),
		q("kappa", "kappa query", 1, "rejected-right"),
		q("iota", "iota query", 0, "rejected-wrong"),
		q("lambda", "lambda near distractor", 1, "distractor"),
		q("tau", "upsilon", 0, "class-equal"),
		q("upsilon original", "upsilon", 1, "class-equal"),
	}
	v := map[string][]float32{
		"alpha": axis(0), "beta": axis(1), "gamma": axis(2), "delta": axis(3), "epsilon": axis(4),
		"Zeta": axis(5), "zeta": axis(5), "kappa": axis(6), "iota": axis(7), "lambda": axis(8),
		"D-mu": axis(9), "tau": axis(10), "upsilon original": axis(11),
	}
	v["alpha again"] = mix(v["alpha"], 0.95, 20)
	v["beta twin"] = mix(v["beta"], 0.9, 21)
	v["gamma far"] = mix(v["gamma"], 0.3, 22)
	v["delta echo"] = mix(v["gamma far"], 0.95, 23) // near the write-back of "gamma far", far from delta
	v["kappa query"] = mix(v["kappa"], 0.9, 24)
	v["iota query"] = mix(v["iota"], 0.9, 25)
	ld := make([]float32, fakeDim) // 0.2 to lambda, 0.92 to the distractor D-mu
	ld[8], ld[9], ld[26] = 0.2, 0.92, float32(math.Sqrt(1-0.04-0.92*0.92))
	v["lambda near distractor"] = ld
	v["upsilon"] = mix(v["upsilon original"], 0.9, 27)
	distractors := []Side{{Text: "D-mu"}}
	for i := range 10 {
		t := fmt.Sprintf("filler %d", i)
		v[t] = axis(28 + i)
		distractors = append(distractors, Side{Text: t})
	}
	// A distractor that is a text of the run must be left out.
	distractors = append(distractors, Side{Text: "ALPHA"})
	return pairs, distractors, &vecEmbedder{vecs: v}
}

// fakeSemantic builds the tier at threshold 0.8 with a verifier that
// rejects two queries.
func fakeSemantic(emb cache.Embedder, idx cache.Index) (cache.SemanticOptions, error) {
	return cache.SemanticOptions{Embedder: emb, Index: idx, Threshold: 0.8, Verify: cache.VerifyFunc(func(q, _ string, _ float32) string {
		switch q {
		case "kappa query":
			return "numbers"
		case "iota query":
			return "negation"
		}
		return ""
	})}, nil
}

func newFakeBackend(t *testing.T, emb *vecEmbedder) *CacheBackend {
	t.Helper()
	b, err := NewCacheBackend(CacheBackendOptions{Embedder: emb, Semantic: fakeSemantic, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func findRecord(t *testing.T, recs []QueryRecord, pairs []Pair, b string, label int) QueryRecord {
	t.Helper()
	for _, r := range recs {
		if pairs[r.Pair].B == b && r.Label == label {
			return r
		}
	}
	t.Fatalf("no record for %q", b)
	return QueryRecord{}
}

// TestReplayCounts replays the fixture in one batch (size 22: 11
// originals and 11 distractors) and checks every count against the
// outcome known by construction (threshold 0.8):
//
//   - "alpha again" (0.95 to alpha): right semantic hit;
//   - "beta twin" (label 0, 0.9 to beta): false hit;
//   - "gamma far" (0.3 to gamma) and "delta echo" (label 0, far from delta)
//     are 0.95 apart: whichever is asked first misses and is written back,
//     and the other then hits that write-back: a wrong answer;
//   - "epsilon": exact hit; "zeta" for "Zeta": semantic hit at 1, right;
//   - "kappa query" / "iota query": the verifier rejects their only
//     candidate (same class / other class): misses;
//   - "lambda near distractor": 0.92 to the distractor D-mu: wrong hit;
//   - "upsilon" (asked for a label-0 pair with tau and a label-1 pair with
//     "upsilon original"): both times served "upsilon original", which is
//     its class: a right hit, and a label-0 hit that is not wrong.
func TestReplayCounts(t *testing.T) {
	pairs, distractors, emb := replayFixture()
	b := newFakeBackend(t, emb)
	classes := Classes(pairs)
	rep, err := Replay(context.Background(), pairs, b, ReplayOptions{Sizes: []int{22}, Seed: 3, Classes: classes, Distractors: distractors})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DistractorPool != 11 || len(rep.Warnings) != 0 || len(rep.Sizes) != 1 {
		t.Fatalf("pool %d, warnings %v, sizes %d", rep.DistractorPool, rep.Warnings, len(rep.Sizes))
	}
	sr := rep.Sizes[0]
	if sr.Batches != 1 || sr.MinEntries != 22 || len(sr.Records) != len(pairs) {
		t.Fatalf("batches %d, min entries %d, records %d", sr.Batches, sr.MinEntries, len(sr.Records))
	}
	if sr.DuplicateRecall.X != 11 || sr.DuplicateRecall.N != 11 {
		t.Errorf("duplicate recall %+v, want 11/11", sr.DuplicateRecall)
	}

	// Which of the two write-back pairs was asked first decides which one
	// gets the wrong answer.
	var gammaFirst bool
	for _, r := range sr.Records {
		if b := pairs[r.Pair].B; b == "gamma far" || b == "delta echo" {
			gammaFirst = b == "gamma far"
			break
		}
	}
	gf, de := findRecord(t, sr.Records, pairs, "gamma far", 1), findRecord(t, sr.Records, pairs, "delta echo", 0)
	first, second := gf, de
	if !gammaFirst {
		first, second = de, gf
	}
	if first.Hit() || !second.Hit() || second.Correct() || second.Outcome.Tier != TierSemantic ||
		second.Outcome.EntryPrompt != pairs[first.Pair].B {
		t.Errorf("write-back: first %+v, second %+v", first, second)
	}

	all := sr.Rows[0]
	wrong1, wrong0 := 1, 1 // lambda; beta
	if gammaFirst {
		wrong0++ // delta echo hit the written-back gamma far
	} else {
		wrong1++ // gamma far hit the written-back delta echo
	}
	checks := []struct {
		name      string
		got, want int
	}{
		{"label-1 queries", all.Label1, 7},
		{"label-0 queries", all.Label0, 4},
		{"hits", all.Hits, 8},
		{"right label-1 hits", all.Recall.X, 4},
		{"wrong label-1 hits", all.WrongHit.X, wrong1},
		{"wrong label-0 hits", all.FalseHit.X, wrong0},
		{"label-0 right hits", all.Label0Right, 1},
		{"served wrong", all.ServedWrong.X, 3},
		{"served wrong of", all.ServedWrong.N, 8},
		{"exact hits", all.ExactHits, 1},
		{"semantic hits", all.SemanticHits, 7},
		{"wrong exact", all.WrongExact, 0},
		{"wrong semantic", all.WrongSemantic, 3},
		{"rejected right (numbers)", all.RejectedRight["numbers"], 1},
		{"rejected wrong (negation)", all.RejectedWrong["negation"], 1},
		{"rejections in all", len(all.RejectedRight) + len(all.RejectedWrong), 2},
		{"degraded", all.Degraded, 0},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if all.Recall != Wilson(4, 7) || all.ServedWrong != Wilson(3, 8) {
		t.Errorf("intervals: recall %+v, served wrong %+v", all.Recall, all.ServedWrong)
	}
	for _, want := range []struct {
		b     string
		label int
		tier  string
		right bool
	}{
		{"alpha again", 1, TierSemantic, true}, {"beta twin", 0, TierSemantic, false}, {"epsilon", 1, TierExact, true},
		{"zeta", 1, TierSemantic, true}, {"kappa query", 1, TierMiss, false}, {"iota query", 0, TierMiss, false},
		{"lambda near distractor", 1, TierSemantic, false}, {"upsilon", 0, TierSemantic, true}, {"upsilon", 1, TierSemantic, true},
	} {
		r := findRecord(t, sr.Records, pairs, want.b, want.label)
		if r.Outcome.Tier != want.tier || r.Correct() != want.right {
			t.Errorf("%q (label %d): tier %q right %v, want %q %v", want.b, want.label, r.Outcome.Tier, r.Correct(), want.tier, want.right)
		}
	}
	if r := findRecord(t, sr.Records, pairs, "lambda near distractor", 1); r.Outcome.EntryPrompt != "D-mu" {
		t.Errorf("lambda served %q, want the distractor", r.Outcome.EntryPrompt)
	}
	if r := findRecord(t, sr.Records, pairs, "kappa query", 1); len(r.Outcome.Rejections) != 1 || r.Outcome.Rejections[0].Prompt != "kappa" {
		t.Errorf("kappa rejections %+v", r.Outcome.Rejections)
	}
	// Rows per family and per type.
	groups := map[string]Row{}
	for _, r := range sr.Rows {
		groups[r.Group] = r
	}
	if groups["family=t"].Label1 != 7 || groups["type=class-equal"].Label0Right != 1 || groups["type=distractor"].WrongHit.X != 1 {
		t.Errorf("group rows: %+v", sr.Rows)
	}
	// Same seed, same records.
	rep2, err := Replay(context.Background(), pairs, b, ReplayOptions{Sizes: []int{22}, Seed: 3, Classes: classes, Distractors: distractors})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rep2.Sizes[0].Records {
		if r.Pair != sr.Records[i].Pair || r.Outcome.Tier != sr.Records[i].Outcome.Tier || r.Served != sr.Records[i].Served {
			t.Fatalf("record %d differs between two runs with one seed", i)
		}
	}
}

func TestReplayBatches(t *testing.T) {
	pairs, distractors, emb := replayFixture()
	b := newFakeBackend(t, emb)
	rep, err := Replay(context.Background(), pairs, b, ReplayOptions{Sizes: []int{4, 100}, Seed: 1, Classes: Classes(pairs), Distractors: distractors})
	if err != nil {
		t.Fatal(err)
	}
	small, big := rep.Sizes[0], rep.Sizes[1]
	if small.Batches != 6 || small.MinEntries != 4 || len(small.Records) != 11 {
		t.Errorf("size 4: %d batches, min entries %d, %d records", small.Batches, small.MinEntries, len(small.Records))
	}
	if small.DuplicateRecall.Value != 1 || big.DuplicateRecall.Value != 1 {
		t.Errorf("duplicate recall %v / %v", small.DuplicateRecall, big.DuplicateRecall)
	}
	// Every pair is asked once per size.
	for _, sr := range rep.Sizes {
		seen := map[int]int{}
		for _, r := range sr.Records {
			seen[r.Pair]++
		}
		if len(seen) != len(pairs) {
			t.Errorf("size %d: %d pairs asked, want %d", sr.Size, len(seen), len(pairs))
		}
	}
	// Size 100 needs 89 distractors; the pool has 11.
	if big.Batches != 1 || big.MinEntries != 22 || len(rep.Warnings) != 1 || !strings.Contains(rep.Warnings[0], "size 100") {
		t.Errorf("size 100: %d batches, min entries %d, warnings %v", big.Batches, big.MinEntries, rep.Warnings)
	}
	if emb.calls > 3 {
		t.Errorf("%d embedder calls: embeddings are not reused across batches and sizes", emb.calls)
	}
}

func TestReplayValidates(t *testing.T) {
	pairs, _, emb := replayFixture()
	b := newFakeBackend(t, emb)
	_, err := Replay(context.Background(), nil, nil, ReplayOptions{Sizes: []int{1}})
	for _, want := range []string{"no pairs", "no backend", "cache size 1", "no classes"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Replay(ctx, pairs, b, ReplayOptions{Sizes: []int{4}, Classes: Classes(pairs)}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled replay: %v", err)
	}
	if _, err := NewCacheBackend(CacheBackendOptions{Mode: "everything"}); err == nil ||
		!strings.Contains(err.Error(), "embedder") || !strings.Contains(err.Error(), "prompt mode") {
		t.Errorf("backend options: %v", err)
	}
}
