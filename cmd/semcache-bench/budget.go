package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/semcache/semcache/bench/budgetrun"
	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed"
)

// runBudget measures error budgets end to end (bench/budgetrun): the same
// stream through semcache with the static cut-off and with each budget,
// over HTTP against the oracle upstream.
func runBudget(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("budget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var pairs listFlag
	fs.Var(&pairs, "pairs", "labelled pair files, comma-separated (default ../shared/data/dev-statements.jsonl,bench/testdata/questions.jsonl)")
	split := fs.String("split", eval.SplitTest, "tune, test or all")
	n := fs.Int("n", 20000, "requests in the stream")
	para := fs.Float64("paraphrases", 0.3, "share of paraphrases of earlier prompts")
	negs := fs.Float64("negatives", 0.2, "share of hard negatives of earlier prompts")
	budgets := fs.String("budgets", "0.01,0.02,0.05", "error budgets to run")
	maxExplore := fs.Float64("verify-max-fraction", 0, "cap on explorations as a share of lookups (0: the learner's default)")
	embName := fs.String("embedder", "lexical", "lexical or use")
	modelDir := fs.String("model-dir", os.Getenv("SEMCACHE_MODEL_DIR"), "USE-lite model directory")
	seed := fs.Uint64("seed", 1, "stream and exploration seed")
	pngPath := fs.String("png", "budget.png", "where to draw the curves")
	restart := fs.Int("restart-at", 0, "restart the service after this many requests (0: never)")
	mistakes := fs.String("mistakes", "", "write every wrong semantic hit as JSON Lines to this file (one file per run: the budget is appended to the name)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the runs to this file")
	var words wordFlags
	words.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	paths := pairs.values
	if len(paths) == 0 {
		paths = []string{"../shared/data/dev-statements.jsonl", "bench/testdata/questions.jsonl"}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	var eps []float64
	for _, f := range strings.Split(*budgets, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 64)
		if err != nil || v <= 0 || v >= 1 {
			return fmt.Errorf("budget: --budgets: %q is not in (0, 1)", f)
		}
		eps = append(eps, v)
	}
	all, err := eval.LoadFiles(paths)
	if err != nil {
		return err
	}
	sel, _, err := eval.Select(all, *split)
	if err != nil {
		return err
	}
	classes := eval.Classes(all)
	stream := budgetrun.Stream(sel, classes, budgetrun.StreamOptions{N: *n, Paraphrases: *para, Negatives: *negs, Seed: *seed, Model: "sim-gpt"})
	emb, err := newEvalEmbedder(ctx, *embName, 0, *modelDir, "", "")
	if err != nil {
		return err
	}
	cached := embed.NewCached(emb, embed.CacheOptions{MaxEntries: 1 << 18})
	dim := len(mustEmbed(ctx, cached))
	vo, err := words.options()
	if err != nil {
		return err
	}
	semantic := func(idx cache.Index) (cache.SemanticOptions, error) {
		return simtier.Options(simtier.Config{Embedder: cached, Index: idx, Kind: *embName, EmbedTimeout: evalTimeout, SearchTimeout: evalTimeout, Verifier: vo})
	}
	fmt.Fprintf(stdout, "stream: %d requests from %d %s pairs (%s), paraphrases %.0f%%, hard negatives %.0f%%, embedder %s, seed %d\n\n",
		len(stream), len(sel), *split, strings.Join(paths, ","), 100**para, 100**negs, *embName, *seed)
	fmt.Fprintln(stdout, "| run | semantic hit rate | wrong-hit rate [95%] | wrong / hits | explorations (share of requests) | hindsight cut-off: hit rate, wrong-hit rate [95%] | time |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|")
	var series []budgetrun.Series
	for _, b := range append([]float64{0}, eps...) {
		dir, err := os.MkdirTemp("", "semcache-budget-*")
		if err != nil {
			return err
		}
		start := time.Now()
		out, _, err := budgetrun.Run(ctx, stream, budgetrun.Options{Budget: b, MaxExploreFraction: *maxExplore, Semantic: semantic,
			Dimension: dim, Classes: classes, Dir: dir, Seed: *seed, RestartAt: *restart})
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		if *mistakes != "" {
			if err := writeMistakes(fmt.Sprintf("%s.%g", *mistakes, b), stream, out); err != nil {
				return err
			}
		}
		name := "static cut-off"
		if b > 0 {
			name = fmt.Sprintf("budget %g%%", 100*b)
		}
		rep := budgetrun.Summarise(max(b, 0.02), out)
		hind := "—"
		if b > 0 {
			hind = fmt.Sprintf("%.4f (cut-off %.5f), %s", rep.HindsightHitRate, rep.HindsightCutoff, rep.HindsightWrong)
		}
		fmt.Fprintf(stdout, "| %s | %.4f | %s | %d / %d | %d (%.2f%%) | %s | %s |\n", name, rep.HitRate, rep.WrongRate, rep.Wrong, rep.Semantic,
			rep.Explored, 100*float64(rep.Explored)/float64(rep.Requests), hind, time.Since(start).Round(time.Second))
		series = append(series, budgetrun.Curves(name, b, out))
	}
	f, err := os.Create(*pngPath)
	if err != nil {
		return err
	}
	if err := budgetrun.Plot(f, series); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\ncurves: %s\n", *pngPath)
	return nil
}

func mustEmbed(ctx context.Context, e cache.Embedder) []float32 {
	v, err := e.Embed(ctx, []string{"dimension probe"})
	if err != nil || len(v) != 1 {
		return nil
	}
	return v[0]
}

// mistake is a wrong semantic hit, for --mistakes.
type mistake struct {
	Request int     `json:"request"`
	Kind    string  `json:"kind"`
	Query   string  `json:"query"`
	Entry   string  `json:"entry"`
	Score   float64 `json:"score"`
}

func writeMistakes(path string, stream []budgetrun.Request, out []budgetrun.Outcome) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for i, o := range out {
		if o.Tier != "semantic" || o.Right {
			continue
		}
		if err := enc.Encode(mistake{Request: i, Kind: stream[i].Kind, Query: stream[i].Text, Entry: o.EntryText, Score: o.Score}); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
