package eval

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/semcache/semcache/cache/verify"
)

// fakeEmbedder maps each text to a fixed vector.
type fakeEmbedder struct {
	vecs  map[string][]float32
	calls int
	err   error
}

func (f *fakeEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v, ok := f.vecs[t]
		if !ok {
			return nil, errors.New("fake: unknown text " + t)
		}
		out[i] = v
	}
	return out, nil
}

// unit returns the 2-d unit vector whose cosine with (1, 0) is c.
func unit(c float64) []float32 {
	return []float32{float32(c), float32(math.Sqrt(1 - c*c))}
}

// fakeChecker rejects the listed query texts for a reason.
type fakeChecker map[string]verify.Reason

func (f fakeChecker) Check(query, _ string, _ float32) verify.Verdict {
	if r, ok := f[query]; ok {
		return verify.Verdict{Reason: r, Detail: string(r) + ": fake"}
	}
	return verify.Verdict{OK: true}
}

// TestLoadShippedSet keeps bench/testdata/pairs.jsonl loadable, large and
// balanced.
func TestLoadShippedSet(t *testing.T) {
	f, err := os.Open("../testdata/pairs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pairs, err := Load(f)
	if err != nil {
		t.Fatal(err)
	}
	dups, seen := 0, map[[2]string]bool{}
	for _, p := range pairs {
		if p.Duplicate() {
			dups++
		}
		k := [2]string{p.A, p.B}
		if seen[k] {
			t.Errorf("pair %q / %q appears twice", p.A, p.B)
		}
		seen[k] = true
	}
	if len(pairs) < 400 {
		t.Errorf("%d pairs, want at least 400", len(pairs))
	}
	if frac := float64(dups) / float64(len(pairs)); frac < 0.4 || frac > 0.6 {
		t.Errorf("%d of %d pairs are duplicates (%.2f), want about half", dups, len(pairs), frac)
	}
}

func TestEvaluate(t *testing.T) {
	pairs := []Pair{
		pr("q", "d1", true, "paraphrase"),    // 0.95
		pr("q", "d2", true, "paraphrase"),    // 0.85
		pr("q", "d3", true, "typo"),          // 0.60
		pr("q", "n1", false, "numbers"),      // 0.91, verifier rejects
		pr("q", "n2", false, "entity"),       // 0.80, verifier accepts
		pr("q", "n3", false, "entity"),       // 0.50
		pr("q", "d4", true, "synonym"),       // 0.92, verifier rejects (lost hit)
		pr("q", "n4", false, "negation"),     // 0.99, verifier rejects
		pr("d1", "d1", true, "case"),         // 1.0
		pr("q", "n5", false, "direction"),    // 0.70, verifier rejects
		pr("q", "n6", false, "followup"),     // -0.20
		pr("d2", "d3", true, "abbreviation"), // cosine computed from the vectors
	}
	emb := &fakeEmbedder{vecs: map[string][]float32{
		"q": unit(1), "d1": unit(0.95), "d2": unit(0.85), "d3": unit(0.60), "d4": unit(0.92),
		"n1": unit(0.91), "n2": unit(0.80), "n3": unit(0.50), "n4": unit(0.99), "n5": unit(0.70), "n6": unit(-0.2),
	}}
	ver := fakeChecker{"n1": verify.ReasonNumbers, "d4": verify.ReasonDifference, "n4": verify.ReasonNegation, "n5": verify.ReasonDirection}
	rep, err := Evaluate(context.Background(), pairs, emb, ver, []float32{0.9, 0.75, 0.9, 0.55})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Pairs != 12 || rep.Duplicates != 6 || rep.NonDuplicates != 6 || !rep.Verifier {
		t.Errorf("report header = %d pairs, %d dups, %d non-dups, verifier %v", rep.Pairs, rep.Duplicates, rep.NonDuplicates, rep.Verifier)
	}
	if len(rep.Thresholds) != 3 || rep.Thresholds[0].Threshold != 0.55 || rep.Thresholds[2].Threshold != 0.9 {
		t.Fatalf("thresholds not sorted and deduplicated: %+v", rep.Thresholds)
	}
	// cos(d2, d3) for unit vectors at cosines 0.85 and 0.60 with q.
	d2d3 := 0.85*0.60 + math.Sqrt(1-0.85*0.85)*math.Sqrt(1-0.60*0.60)
	if got := rep.Scored[11].Score; math.Abs(float64(got)-d2d3) > 1e-5 {
		t.Errorf("score of d2/d3 = %v, want %v", got, d2d3)
	}
	if d2d3 < 0.9 {
		t.Fatalf("test setup: d2/d3 cosine %v should be above every threshold", d2d3)
	}

	// At 0.75: above are d1 .95, d2 .85, n1 .91, n2 .80, d4 .92, n4 .99, d1/d1 1, d2/d3 .96.
	at := rep.Thresholds[1]
	wantPlain := Metrics{TP: 5, FP: 3, TN: 3, FN: 1}
	wantVer := Metrics{TP: 4, FP: 1, TN: 5, FN: 2}
	checkMetrics(t, "0.75 without verifier", at.Plain, wantPlain)
	checkMetrics(t, "0.75 with verifier", at.Verified, wantVer)
	if at.PlainFalseHitsByKind["numbers"] != 1 || at.PlainFalseHitsByKind["entity"] != 1 || at.PlainFalseHitsByKind["negation"] != 1 {
		t.Errorf("false hits by kind without verifier = %v", at.PlainFalseHitsByKind)
	}
	if at.VerifiedFalseHitsByKind["entity"] != 1 || at.VerifiedFalseHitsByKind["numbers"] != 0 {
		t.Errorf("false hits by kind with verifier = %v", at.VerifiedFalseHitsByKind)
	}
	if at.RejectedNonDuplicates[verify.ReasonNumbers] != 1 || at.RejectedNonDuplicates[verify.ReasonNegation] != 1 || at.RejectedNonDuplicates[verify.ReasonDirection] != 0 {
		t.Errorf("rejected non-duplicates = %v (direction's n5 at 0.70 is below 0.75)", at.RejectedNonDuplicates)
	}
	if at.RejectedDuplicates[verify.ReasonDifference] != 1 {
		t.Errorf("rejected duplicates = %v", at.RejectedDuplicates)
	}

	// Best: precision with verifier at 0.55 is 5/(5+1) (n2), at 0.75 4/5,
	// at 0.9 4/4 (d1, d4 rejected, d1/d1, d2/d3; n1, n4 rejected).
	checkMetrics(t, "0.90 with verifier", rep.Thresholds[2].Verified, Metrics{TP: 3, FP: 0, TN: 6, FN: 3})
	if b, ok := rep.Best(0.95); !ok || b.Threshold != 0.9 {
		t.Errorf("Best(0.95) = %v, %v; want 0.9", b.Threshold, ok)
	}
	if b, ok := rep.Best(0.8); !ok || b.Threshold != 0.55 {
		t.Errorf("Best(0.8) = %v, %v; want 0.55", b.Threshold, ok)
	}
	falseHits, missed := rep.Mistakes(0.75)
	if len(falseHits) != 1 || falseHits[0].B != "n2" || len(missed) != 2 {
		t.Errorf("Mistakes(0.75) = %+v, %+v", falseHits, missed)
	}

	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"0.75", "0.833", "0.625", "0.800", "0.667", "entity(2)", "numbers(1)", "1/0", "direction"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("Print output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Errorf("report does not marshal: %v", err)
	}
}

func checkMetrics(t *testing.T, name string, got, want Metrics) {
	t.Helper()
	if got.TP != want.TP || got.FP != want.FP || got.TN != want.TN || got.FN != want.FN {
		t.Errorf("%s: counts TP %d FP %d TN %d FN %d, want %d %d %d %d", name, got.TP, got.FP, got.TN, got.FN, want.TP, want.FP, want.TN, want.FN)
		return
	}
	p := 1.0
	if want.TP+want.FP > 0 {
		p = float64(want.TP) / float64(want.TP+want.FP)
	}
	r := float64(want.TP) / float64(want.TP+want.FN)
	f1 := 0.0
	if p+r > 0 {
		f1 = 2 * p * r / (p + r)
	}
	fhr := float64(want.FP) / float64(want.FP+want.TN)
	for _, c := range []struct {
		what      string
		got, want float64
	}{{"precision", got.Precision, p}, {"recall", got.Recall, r}, {"F1", got.F1, f1}, {"false-hit rate", got.FalseHitRate, fhr}} {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s: %s = %v, want %v", name, c.what, c.got, c.want)
		}
	}
}

func TestEvaluateWithoutVerifier(t *testing.T) {
	pairs := []Pair{pr("a", "b", true, "k"), pr("a", "c", false, "k")}
	emb := &fakeEmbedder{vecs: map[string][]float32{"a": unit(1), "b": unit(0.9), "c": unit(0.8)}}
	rep, err := Evaluate(context.Background(), pairs, emb, nil, []float32{0.85, 0.7})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verifier {
		t.Error("Verifier set without a checker")
	}
	for _, th := range rep.Thresholds {
		if th.Plain != th.Verified {
			t.Errorf("at %v: without a checker both columns must agree: %+v vs %+v", th.Threshold, th.Plain, th.Verified)
		}
	}
	checkMetrics(t, "0.70", rep.Thresholds[0].Plain, Metrics{TP: 1, FP: 1, TN: 0, FN: 0})
	if _, ok := rep.Best(0.99); !ok {
		t.Error("Best(0.99): 0.85 has precision 1")
	}
}

func TestEvaluateErrors(t *testing.T) {
	pairs := []Pair{pr("a", "b", true, "k")}
	emb := &fakeEmbedder{vecs: map[string][]float32{"a": unit(1), "b": unit(0.5)}}
	ctx := context.Background()
	if _, err := Evaluate(ctx, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "no pairs") || !strings.Contains(err.Error(), "nil embedder") || !strings.Contains(err.Error(), "no thresholds") {
		t.Errorf("all argument problems are reported together, got %v", err)
	}
	if _, err := Evaluate(ctx, pairs, emb, nil, []float32{1.5}); err == nil {
		t.Error("threshold 1.5 accepted")
	}
	failing := &fakeEmbedder{err: errors.New("backend down")}
	if _, err := Evaluate(ctx, pairs, failing, nil, []float32{0.5}); err == nil || !strings.Contains(err.Error(), "backend down") {
		t.Errorf("embedder error not wrapped: %v", err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := Evaluate(cancelled, pairs, emb, nil, []float32{0.5}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
	short := &fakeEmbedder{vecs: map[string][]float32{"a": unit(1), "b": {1}}}
	if _, err := Evaluate(ctx, pairs, short, nil, []float32{0.5}); err == nil {
		t.Error("vectors of different lengths accepted")
	}
}

func TestEvaluateBatches(t *testing.T) {
	var pairs []Pair
	emb := &fakeEmbedder{vecs: map[string][]float32{}}
	for i := range 100 {
		a, b := "a"+string(rune('0'+i%10))+string(rune('a'+i/10)), "b"+string(rune('0'+i%10))+string(rune('a'+i/10))
		emb.vecs[a], emb.vecs[b] = unit(1), unit(0.5)
		pairs = append(pairs, pr(a, b, i%2 == 0, "k"))
	}
	if _, err := Evaluate(context.Background(), pairs, emb, nil, []float32{0.5}); err != nil {
		t.Fatal(err)
	}
	if want := (200 + embedBatch - 1) / embedBatch; emb.calls != want {
		t.Errorf("%d Embed calls for 200 texts, want %d", emb.calls, want)
	}
}

// pr builds a first-schema pair.
func pr(a, b string, dup bool, kind string) Pair {
	label := 0
	if dup {
		label = 1
	}
	return Pair{A: a, B: b, Label: label, Source: OldPairsSource, Kind: "question", Type: kind}
}
