package budgetrun

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
)

// generatedPairs are questions whose every relation is known: a class per
// (task, tool), asked in five wordings, and as its hard negative the same
// task with another tool.
func generatedPairs() []eval.Pair {
	tools := []string{"python", "postgres", "kubernetes", "react", "rust", "terraform", "docker", "nginx", "kafka", "redis",
		"golang", "java", "typescript", "linux", "git", "django", "spark", "pandas", "bash", "vim"}
	tasks := []string{"reverse a list", "parse a date", "read a file line by line", "connect to a database", "handle errors",
		"write a unit test", "sort a map by value", "merge two dictionaries", "configure logging", "retry a request",
		"stream a response", "limit concurrency", "cache query results", "validate user input", "paginate results"}
	styles := []string{"How do I %s in %s?", "how do i %s in %s", "How can I %s in %s?", "What is the way to %s in %s?", "In %[2]s, how do I %[1]s?"}
	var out []eval.Pair
	for i, task := range tasks {
		for j, tool := range tools {
			first := fmt.Sprintf(styles[0], task, tool)
			for _, st := range styles[1:] {
				out = append(out, eval.Pair{A: first, B: fmt.Sprintf(st, task, tool), Label: 1, Source: "generated", Kind: "question"})
			}
			other := tools[(j+1+i)%len(tools)]
			out = append(out, eval.Pair{A: first, B: fmt.Sprintf(styles[0], task, other), Label: 0, Source: "generated", Kind: "question"})
		}
	}
	return out
}

// TestRestartMidStream: the service is closed and opened again on the same
// directory after the learner has started serving; what it learned
// survives (the namespace's counts and the entries' evidence, read back
// from the disk tier), so it serves again right after the restart (a
// learner starting afresh needs thousands of requests of labels first),
// and the served wrong-hit rate stays within the budget.
func TestRestartMidStream(t *testing.T) {
	pairs := generatedPairs()
	classes := eval.Classes(pairs)
	const n, restart = 9000, 6000
	stream := Stream(pairs, classes, StreamOptions{N: n, Paraphrases: 0.3, Negatives: 0.2, Seed: 3, Model: "sim-gpt", NearDuplicate: 2})
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
	out, st, err := Run(t.Context(), stream, Options{Budget: eps, Semantic: semantic, Dimension: 512, Classes: classes, Dir: dir, Seed: 1, RestartAt: restart})
	if err != nil {
		t.Fatal(err)
	}
	rep := Summarise(eps, out)
	before, after, soon, early := 0, 0, 0, 0
	for i, o := range out {
		if o.Tier != "semantic" {
			continue
		}
		if i < 500 {
			early++
		}
		switch {
		case i < restart:
			before++
		case i < restart+500:
			soon++
			after++
		default:
			after++
		}
	}
	t.Logf("semantic hits %d (in the first 500 requests %d; before the restart %d, after %d, in the first 500 after %d), wrong %d (%v), explored %d, candidates %d; after the restart: %+v",
		rep.Semantic, early, before, after, soon, rep.Wrong, rep.WrongRate, rep.Explored, rep.Candidates, st)
	if before == 0 || soon == 0 {
		t.Fatalf("served %d hits before the restart and %d in the 500 requests after it: the restart is not exercised", before, soon)
	}
	// A learner that lost its state would start as the fresh one did.
	if soon <= 2*early {
		t.Errorf("%d hits in the 500 requests after the restart, %d in the first 500 of the stream: the learner started afresh", soon, early)
	}
	if rep.WrongRate.Low > eps {
		t.Errorf("served wrong-hit rate %v over the budget %v", rep.WrongRate, eps)
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
	// The second part's learner started from the first part's counts:
	// its label count exceeds what the second part alone labelled.
	var labels uint64
	for _, n := range st.Labels {
		labels += n[0] + n[1]
	}
	if st.Labelled <= float64(labels) || labels == 0 {
		t.Errorf("after the restart the learner holds %v labels, %d of them from the second part: the first part's were lost", st.Labelled, labels)
	}
}

// TestLineEnds: every segment the plot draws ends at its end point, on
// every slope (a short stream spreads its points over several pixels).
func TestLineEnds(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 40, 40))
	for x0 := range 8 {
		for y0 := range 8 {
			for x1 := range 8 {
				for y1 := range 8 {
					done := make(chan struct{})
					go func() {
						line(img, x0, y0, x1, y1, color.Black)
						close(done)
					}()
					select {
					case <-done:
					case <-time.After(5 * time.Second):
						t.Fatalf("line (%d,%d)-(%d,%d) does not end", x0, y0, x1, y1)
					}
				}
			}
		}
	}
}

// TestPlotLegendFits: every legend name is drawn whole, with white space
// right of the longest (the legend's column is as wide as its names).
func TestPlotLegendFits(t *testing.T) {
	out := make([]Outcome, 200)
	for i := range out {
		if i%3 == 0 {
			out[i] = Outcome{Tier: "semantic", Right: i%9 != 0}
		}
	}
	var series []Series
	for _, name := range []string{"static cut-off", "budget 5%", "fixed cut-off 0.99 (best for 5%)", "a much longer name than any run has, to be drawn whole"} {
		series = append(series, Curves(name, 0.05, out))
	}
	var buf bytes.Buffer
	if err := Plot(&buf, series); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	l := plotLayout(series)
	dark := func(x, y int) bool {
		r, g, bl, _ := img.At(x, y).RGBA()
		return r+g+bl < 3*0x8000
	}
	for i, s := range series {
		y0, y1 := 60+20*i-11, 60+20*i+3
		right := -1
		for y := y0; y <= y1; y++ {
			for x := l.legendX + swatchW; x < b.Max.X; x++ {
				if dark(x, y) {
					right = max(right, x)
				}
			}
		}
		want := l.legendX + swatchW + font.MeasureString(basicfont.Face7x13, s.Name).Ceil() - 7
		if right < want {
			t.Errorf("legend %q ends at x=%d, its last letter starts at %d", s.Name, right, want)
		}
		if right >= b.Max.X-plotRight/2 {
			t.Errorf("legend %q reaches x=%d, the image is %d wide: cut off", s.Name, right, b.Max.X)
		}
	}
}
