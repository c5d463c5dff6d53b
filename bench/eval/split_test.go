package eval

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// pairID identifies a pair by content, for set comparisons.
func pairID(p Pair) string {
	return requestIdentity(p.SideA()) + "|" + requestIdentity(p.SideB()) + "|" + fmt.Sprint(p.Label)
}

// checkNoLeak fails when a normalised text is in both splits.
func checkNoLeak(t *testing.T, tune, test []Pair) {
	t.Helper()
	inTune := map[string]bool{}
	for _, p := range tune {
		inTune[p.SideA().Key()], inTune[p.SideB().Key()] = true, true
	}
	for _, p := range test {
		for _, k := range []string{p.SideA().Key(), p.SideB().Key()} {
			if inTune[k] {
				t.Fatalf("text %q is in both splits", k)
			}
		}
	}
}

func sortedIDs(pairs []Pair) []string {
	ids := make([]string, len(pairs))
	for i, p := range pairs {
		ids[i] = pairID(p)
	}
	slices.Sort(ids)
	return ids
}

// checkSplitProperties checks leaks, coverage, and independence of order.
func checkSplitProperties(t *testing.T, pairs []Pair) SplitResult {
	t.Helper()
	r := SplitPairs(pairs)
	checkNoLeak(t, r.Tune, r.Test)
	if got := len(r.Tune) + len(r.Test) + r.Dropped; got != len(pairs) {
		t.Fatalf("tune %d + test %d + dropped %d != %d pairs", len(r.Tune), len(r.Test), r.Dropped, len(pairs))
	}
	// Stable across runs and independent of line order.
	shuffled := slices.Clone(pairs)
	rng := rand.New(rand.NewPCG(7, 8))
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	r2 := SplitPairs(shuffled)
	if !slices.Equal(sortedIDs(r.Test), sortedIDs(r2.Test)) || !slices.Equal(sortedIDs(r.Tune), sortedIDs(r2.Tune)) {
		t.Fatal("the split depends on the order of the pairs")
	}
	again := SplitPairs(pairs)
	if !slices.Equal(sortedIDs(r.Test), sortedIDs(again.Test)) {
		t.Fatal("the split differs between two runs")
	}
	return r
}

func TestSplitSmall(t *testing.T) {
	// a-b-c form one component through a shared text (whatever the
	// labels); it must not be cut.
	pairs := []Pair{
		{A: "Alpha", B: "beta", Label: 1, Source: "s", Kind: "k"},
		{A: "BETA ", B: "gamma", Label: 0, Source: "s", Kind: "k"},
		{A: "delta", B: "epsilon", Label: 1, Source: "s", Kind: "k"},
	}
	for i := range 40 {
		pairs = append(pairs, Pair{A: fmt.Sprintf("q%d", i), B: fmt.Sprintf("r%d", i), Label: i % 2, Source: "s", Kind: "k"})
	}
	r := checkSplitProperties(t, pairs)
	if len(r.Giants) != 0 {
		t.Errorf("giants in a small set: %+v", r.Giants)
	}
	inTest := func(p Pair) bool {
		return slices.ContainsFunc(r.Test, func(q Pair) bool { return pairID(q) == pairID(p) })
	}
	if inTest(pairs[0]) != inTest(pairs[1]) {
		t.Error("the component alpha-beta-gamma was cut")
	}
	if want := testHash("alpha"); inTest(pairs[0]) != want {
		t.Errorf("component assigned by its smallest text: in test %v, want %v", inTest(pairs[0]), want)
	}
	// Input order is kept within each split.
	for _, split := range [][]Pair{r.Tune, r.Test} {
		last := -1
		for _, p := range split {
			i := slices.IndexFunc(pairs, func(q Pair) bool { return pairID(q) == pairID(p) })
			if i <= last {
				t.Fatal("a split does not keep the input order")
			}
			last = i
		}
	}
}

func TestSplitGiantComponentByText(t *testing.T) {
	// A star: one hub text shared by 40 of 100 pairs, plus a chain among
	// spokes: 50% of the pairs, more than the test share, so it is split
	// by text.
	var pairs []Pair
	for i := range 40 {
		pairs = append(pairs, Pair{A: "hub question", B: fmt.Sprintf("spoke %d", i), Label: 1, Source: "s", Kind: "k"})
	}
	for i := range 10 {
		pairs = append(pairs, Pair{A: fmt.Sprintf("spoke %d", i), B: fmt.Sprintf("spoke %d", i+10), Label: 0, Source: "s", Kind: "k"})
	}
	for i := range 50 {
		pairs = append(pairs, Pair{A: fmt.Sprintf("x%d", i), B: fmt.Sprintf("y%d", i), Label: 0, Source: "s", Kind: "k"})
	}
	r := checkSplitProperties(t, pairs)
	if len(r.Giants) != 1 || r.Giants[0].Pairs != 50 || r.Giants[0].Texts != 41 || r.Giants[0].Smallest != "hub question" || !r.Giants[0].SplitByText {
		t.Fatalf("giants = %+v, want the hub's component (50 pairs, 41 texts) split by text", r.Giants)
	}
	// Kept pairs are those whose two texts hash to the same side.
	wantDropped := 0
	for _, p := range pairs[:50] {
		if testHash(p.SideA().Key()) != testHash(p.SideB().Key()) {
			wantDropped++
		}
	}
	if r.Dropped != wantDropped || r.Giants[0].Dropped != wantDropped || wantDropped == 0 {
		t.Errorf("dropped %d (giant %d), want %d (> 0)", r.Dropped, r.Giants[0].Dropped, wantDropped)
	}
	hubTest := testHash("hub question")
	for _, p := range append(slices.Clone(r.Tune), r.Test...) {
		if p.A == "hub question" && testHash(p.SideB().Key()) != hubTest {
			t.Errorf("pair %q/%q kept although its texts disagree", p.A, p.B)
		}
	}
}

func TestSplitGiantsPlacedWhole(t *testing.T) {
	// Four stars of 10 pairs each (10% > 5%) among 100 pairs: each is
	// placed whole, where it brings the split closest to 40/60.
	var pairs []Pair
	for s := range 4 {
		for i := range 10 {
			pairs = append(pairs, Pair{A: fmt.Sprintf("hub %d", s), B: fmt.Sprintf("spoke %d.%d", s, i), Label: 1, Source: "s", Kind: "k"})
		}
	}
	for i := range 60 {
		pairs = append(pairs, Pair{A: fmt.Sprintf("x%d", i), B: fmt.Sprintf("y%d", i), Label: 0, Source: "s", Kind: "k"})
	}
	r := checkSplitProperties(t, pairs)
	if len(r.Giants) != 4 || r.Dropped != 0 {
		t.Fatalf("giants %+v, dropped %d; want 4 giants placed whole", r.Giants, r.Dropped)
	}
	for _, g := range r.Giants {
		if g.SplitByText {
			t.Errorf("giant %+v split by text", g)
		}
	}
	nonGiantTest := 0
	for _, p := range pairs[40:] {
		if testHash(p.A) {
			nonGiantTest++
		}
	}
	// Greedy placement, by hand: each star goes to the split further below
	// its share.
	nTest, nTune := nonGiantTest, 60-nonGiantTest
	for range 4 {
		total := float64(nTest + nTune + 10)
		if 0.4*total-float64(nTest) > 0.6*total-float64(nTune) {
			nTest += 10
		} else {
			nTune += 10
		}
	}
	if len(r.Test) != nTest || len(r.Tune) != nTune {
		t.Errorf("test %d, tune %d; want %d, %d", len(r.Test), len(r.Tune), nTest, nTune)
	}
	if frac := float64(len(r.Test)) / 100; frac < 0.3 || frac > 0.5 {
		t.Errorf("test share %.2f", frac)
	}
}

func TestSelect(t *testing.T) {
	pairs, err := LoadFile("testdata/fixture.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	tune, _, err := Select(pairs, SplitTune)
	if err != nil {
		t.Fatal(err)
	}
	test, _, _ := Select(pairs, SplitTest)
	all, _, _ := Select(pairs, SplitAll)
	if len(all) != len(pairs) || len(tune)+len(test) > len(pairs) || len(tune) == 0 || len(test) == 0 {
		t.Errorf("tune %d, test %d, all %d of %d", len(tune), len(test), len(all), len(pairs))
	}
	if _, _, err := Select(pairs, "dev"); err == nil {
		t.Error("unknown split accepted")
	}
}

func TestSplitShippedPairs(t *testing.T) {
	pairs, err := LoadFile("../testdata/pairs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	checkSplitProperties(t, pairs)
}

// TestSplitRealFiles checks the proportions on the development data in
// /work/shared/data (or $SEMCACHE_EVAL_DATA). The files are not part of the
// repository, so the test skips without them.
func TestSplitRealFiles(t *testing.T) {
	dir := os.Getenv("SEMCACHE_EVAL_DATA")
	if dir == "" {
		dir = "/work/shared/data"
	}
	for _, name := range []string{"dev-statements.jsonl", "dev-contextual.jsonl"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if _, err := os.Stat(path); err != nil {
				t.Skipf("no %s (set SEMCACHE_EVAL_DATA to the data directory)", path)
			}
			pairs, err := LoadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			r := checkSplitProperties(t, pairs)
			frac := float64(len(r.Test)) / float64(len(r.Test)+len(r.Tune))
			t.Logf("%s: %d pairs: tune %d, test %d (%.3f), dropped %d, giants %+v", name, len(pairs), len(r.Tune), len(r.Test), frac, r.Dropped, r.Giants)
			if frac < 0.35 || frac > 0.45 {
				t.Errorf("test share %.3f, want about 0.40", frac)
			}
			if float64(r.Dropped) > 0.05*float64(len(pairs)) {
				t.Errorf("%d of %d pairs dropped", r.Dropped, len(pairs))
			}
		})
	}
}
