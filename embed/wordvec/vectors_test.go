package wordvec

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
)

func syntheticVectors(t testing.TB) *Vectors {
	t.Helper()
	data, _ := convertBytes(t, sourceJSON(synthetic()), 1000)
	v, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestQueriesDoNotAllocate(t *testing.T) {
	v := syntheticVectors(t)
	var sink float32
	tests := map[string]func(){
		"Similarity":         func() { s, _ := v.Similarity("alpha", "Mixed"); sink += s },
		"Similarity unknown": func() { s, _ := v.Similarity("alpha", "unknownword"); sink += s },
		"Vector+Cosine": func() {
			a, _ := v.Vector("GAMMA")
			b, _ := v.Vector("e-mail")
			sink += a.Cosine(b)
		},
	}
	for name, f := range tests {
		if n := testing.AllocsPerRun(100, f); n != 0 {
			t.Errorf("%s allocates %v times per call", name, n)
		}
	}
	_ = sink
}

func TestZeroVector(t *testing.T) {
	v := syntheticVectors(t)
	a, _ := v.Vector("alpha")
	if c := a.Cosine(Vector{}); c != 0 {
		t.Errorf("Cosine with the zero Vector = %v, want 0", c)
	}
	if c := (Vector{}).Cosine(Vector{}); c != 0 {
		t.Errorf("zero·zero = %v, want 0", c)
	}
}

func TestConcurrentQueries(t *testing.T) {
	v := syntheticVectors(t)
	words := []string{"alpha", "beta", "gamma", "e-mail", "delta", "mixed", "none"}
	want := map[[2]string]float32{}
	for _, a := range words {
		for _, b := range words {
			s, _ := v.Similarity(a, b)
			want[[2]string{a, b}] = s
		}
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				a, b := words[(i+g)%len(words)], words[(i*3+g)%len(words)]
				if s, _ := v.Similarity(strings.ToUpper(a), b); s != want[[2]string{a, b}] {
					errs <- fmt.Sprintf("Similarity(%s, %s) = %v, want %v", a, b, s, want[[2]string{a, b}])
					return
				}
				if i%500 == 0 {
					v.Nearest(a, 2)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// The tests below need the real vectors (.ci/wordvec.sh).

func TestRealVectorsSanity(t *testing.T) {
	v := testVectors(t)
	if v.Len() != DefaultWords || v.Dims() != 100 {
		t.Fatalf("%d words of %d dims, want %d of 100", v.Len(), v.Dims(), DefaultWords)
	}
	sim := func(a, b string) float32 {
		t.Helper()
		s, ok := v.Similarity(a, b)
		if !ok {
			t.Fatalf("Similarity(%q, %q): a word is unknown", a, b)
		}
		return s
	}
	if gp, gb := sim("goal", "purpose"), sim("goal", "banana"); gp < gb+0.2 {
		t.Errorf("sim(goal, purpose) = %.3f, not clearly above sim(goal, banana) = %.3f", gp, gb)
	}
	for _, p := range [][2]string{{"car", "automobile"}, {"transform", "transformation"}, {"fast", "quick"}} {
		if s := sim(p[0], p[1]); s < 0.6 {
			t.Errorf("sim(%s, %s) = %.3f, want ≥ 0.6", p[0], p[1], s)
		}
	}
	for _, p := range [][2]string{{"car", "banana"}, {"purpose", "kilogram"}} {
		if s := sim(p[0], p[1]); s > 0.3 {
			t.Errorf("sim(%s, %s) = %.3f, want ≤ 0.3 for unrelated words", p[0], p[1], s)
		}
	}
	if a, b := sim("Goal", "PURPOSE"), sim("goal", "purpose"); a != b {
		t.Errorf("case changes the similarity: %v vs %v", a, b)
	}
	if s := sim("purpose", "purpose"); s < 0.999 {
		t.Errorf("self-similarity %v, want 1", s)
	}
	for _, unknown := range []string{"qwertyuiopasdf", "1999", ",", "sandberger"} {
		if _, ok := v.Vector(unknown); ok {
			t.Errorf("%q is known; numbers, punctuation and words past the top %d must not be", unknown, DefaultWords)
		}
	}
	n := v.Nearest("python", 10)
	var words []string
	for _, nb := range n {
		words = append(words, nb.Word)
	}
	t.Logf("Nearest(python) = %v", n)
	plausible := 0
	for _, w := range []string{"perl", "php", "ruby", "javascript", "monty", "java", "snake", "cobra"} {
		if slices.Contains(words, w) {
			plausible++
		}
	}
	if len(n) != 10 || plausible < 2 || slices.Contains(words, "python") {
		t.Errorf("Nearest(python) = %v: want 10 words, at least 2 of them programming languages, Monty or snakes, not python itself", words)
	}
}

// TestAntonyms records that GloVe puts antonyms close together: they share
// contexts. A verifier must never read a high similarity as "same
// meaning"; if this test fails, the vectors changed and that caveat (see
// the package comment) needs checking again.
func TestAntonyms(t *testing.T) {
	v := testVectors(t)
	for _, p := range [][2]string{{"good", "bad"}, {"increase", "decrease"}, {"before", "after"}, {"fast", "slow"}, {"true", "false"}, {"first", "last"}} {
		s, ok := v.Similarity(p[0], p[1])
		t.Logf("antonyms %-9s %-9s %.3f", p[0], p[1], s)
		if !ok || s < 0.5 {
			t.Errorf("sim(%s, %s) = %.3f, %v: expected GloVe to put these antonyms close (≥ 0.5)", p[0], p[1], s, ok)
		}
	}
}

// TestExamples logs the similarities of the verifier's motivating pairs;
// it only checks they are all known words.
func TestExamples(t *testing.T) {
	v := testVectors(t)
	for _, p := range [][2]string{
		{"goal", "purpose"}, {"goal", "banana"}, {"transform", "transformation"}, {"transformations", "transforms"},
		{"iterate", "traverse"}, {"iterates", "traversed"}, {"python", "java"}, {"list", "array"}, {"reverse", "invert"},
	} {
		s, ok := v.Similarity(p[0], p[1])
		if !ok {
			t.Errorf("Similarity(%s, %s): unknown word", p[0], p[1])
		}
		t.Logf("%-15s %-15s %.3f", p[0], p[1], s)
	}
}
