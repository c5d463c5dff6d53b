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
	cutoffs := fs.String("cutoffs", "0.98,0.985,0.99,0.993,0.995,0.997,0.998,0.999,0.9993,0.9995,0.9997,0.9998", "fixed cut-offs of the calibrated score to run (the best one in hindsight is the learner's baseline; empty: none)")
	maxExplore := fs.Float64("verify-max-fraction", 0, "cap on explorations as a share of lookups (0: the learner's default)")
	embName := fs.String("embedder", "lexical", "lexical or use")
	modelDir := fs.String("model-dir", os.Getenv("SEMCACHE_MODEL_DIR"), "USE-lite model directory")
	seed := fs.Uint64("seed", 1, "stream and exploration seed")
	pngPath := fs.String("png", "budget.png", "where to draw the curves")
	restart := fs.Int("restart-at", 0, "restart the service after this many requests (0: never)")
	mistakes := fs.String("mistakes", "", "write every wrong semantic hit as JSON Lines to this file (one file per run: the budget is appended to the name)")
	candidates := fs.String("candidates", "", "write every semantic candidate (served or not) as JSON Lines to this file (one file per run: the budget is appended to the name)")
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
	var cuts []float32
	for _, f := range strings.Split(*cutoffs, ",") {
		if strings.TrimSpace(f) == "" {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil || v <= 0 || v >= 1 {
			return fmt.Errorf("budget: --cutoffs: %q is not in (0, 1)", f)
		}
		cuts = append(cuts, float32(v))
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
	semanticAt := func(cutoff float32) budgetrun.SemanticFunc {
		vo := vo
		vo.MinScore = cutoff
		return func(idx cache.Index) (cache.SemanticOptions, error) {
			return simtier.Options(simtier.Config{Embedder: cached, Index: idx, Kind: *embName, EmbedTimeout: evalTimeout, SearchTimeout: evalTimeout, Verifier: vo})
		}
	}
	fmt.Fprintf(stdout, "stream: %d requests from %d %s pairs (%s), paraphrases %.0f%%, hard negatives %.0f%%, embedder %s, seed %d\n\n",
		len(stream), len(sel), *split, strings.Join(paths, ","), 100**para, 100**negs, *embName, *seed)
	fmt.Fprintln(stdout, "| run | hit rate (exact + semantic) | semantic hit rate | wrong-hit rate [95%] | wrong / semantic hits | explorations (share of requests) | cut-off from this run's candidates in hindsight: semantic hit rate, wrong-hit rate [95%] | time |")
	fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|")
	type run struct {
		name   string
		budget float64
		cutoff float32
	}
	runs := []run{{name: "static cut-off"}}
	for _, c := range cuts {
		runs = append(runs, run{name: fmt.Sprintf("fixed cut-off %g", c), cutoff: c})
	}
	for _, b := range eps {
		runs = append(runs, run{name: fmt.Sprintf("budget %g%%", 100*b), budget: b})
	}
	var series []budgetrun.Series
	var fixed []budgetrun.Report
	var fixedSeries []budgetrun.Series
	learned := map[float64]budgetrun.Report{}
	for _, r := range runs {
		dir, err := os.MkdirTemp("", "semcache-budget-*")
		if err != nil {
			return err
		}
		start := time.Now()
		out, _, err := budgetrun.Run(ctx, stream, budgetrun.Options{Budget: r.budget, MaxExploreFraction: *maxExplore, Semantic: semanticAt(r.cutoff),
			Dimension: dim, Classes: classes, Dir: dir, Seed: *seed, RestartAt: *restart})
		os.RemoveAll(dir)
		if err != nil {
			return err
		}
		tag := fmt.Sprintf("%g", r.budget)
		if r.cutoff > 0 {
			tag = fmt.Sprintf("cut%g", r.cutoff)
		}
		if *mistakes != "" {
			if err := writeOutcomes(*mistakes+"."+tag, stream, out, true); err != nil {
				return err
			}
		}
		if *candidates != "" {
			if err := writeOutcomes(*candidates+"."+tag, stream, out, false); err != nil {
				return err
			}
		}
		hb := r.budget
		if hb == 0 {
			hb = 0.02
		}
		rep := budgetrun.Summarise(hb, out)
		hind := "—"
		switch {
		case r.budget > 0:
			hind = fmt.Sprintf("%.4f (cut-off %.5f), %s", rep.HindsightHitRate, rep.HindsightCutoff, rep.HindsightWrong)
			learned[r.budget] = rep
			series = append(series, budgetrun.Curves(r.name, r.budget, out))
		case r.cutoff > 0:
			rep.Cutoff = float64(r.cutoff)
			fixed = append(fixed, rep)
			fixedSeries = append(fixedSeries, budgetrun.Curves(r.name, 0, out))
		default:
			series = append(series, budgetrun.Curves(r.name, r.budget, out))
		}
		fmt.Fprintf(stdout, "| %s | %.4f | %.4f | %s | %d / %d | %d (%.2f%%) | %s | %s |\n", r.name, rep.AllHitRate, rep.HitRate, rep.WrongRate, rep.Wrong, rep.Semantic,
			rep.Explored, 100*float64(rep.Explored)/float64(rep.Requests), hind, time.Since(start).Round(time.Second))
	}
	if len(fixed) > 0 && len(eps) > 0 {
		fmt.Fprintln(stdout, "\nThe best fixed cut-off in hindsight (of the fixed cut-off runs, the one with the highest hit rate whose served wrong-hit rate is within the budget) against the learner; hit rates count exact and semantic hits (semantic only in brackets):")
		fmt.Fprintln(stdout, "The last column is the best fixed cut-off whose wrong-hit rate is within the budget with 95% confidence (the upper end of its interval), as the learner's must be: what a fixed cut-off chosen in hindsight can guarantee.")
		fmt.Fprintln(stdout, "\n| budget | best fixed cut-off | its hit rate | its wrong-hit rate [95%] | learner's hit rate | learner's wrong-hit rate [95%] | learner / best fixed | best fixed cut-off within the budget with 95% confidence: cut-off, hit rate |")
		fmt.Fprintln(stdout, "|---|---|---|---|---|---|---|---|")
		drawn := map[int]bool{}
		for _, b := range eps {
			var best *budgetrun.Report
			bi := -1
			for i := range fixed {
				f := &fixed[i]
				if f.WrongRate.Value <= b && (best == nil || f.AllHitRate > best.AllHitRate) {
					best, bi = f, i
				}
			}
			if bi >= 0 && !drawn[bi] {
				drawn[bi] = true
				fs := fixedSeries[bi]
				fs.Name += fmt.Sprintf(" (best for %g%%)", 100*b)
				series = append(series, fs)
			}
			sure := "none"
			var certified *budgetrun.Report
			for i := range fixed {
				f := &fixed[i]
				if f.Semantic > 0 && f.WrongRate.High <= b && (certified == nil || f.AllHitRate > certified.AllHitRate) {
					certified = f
				}
			}
			if certified != nil {
				sure = fmt.Sprintf("%s, %.4f (%.4f)", strconv.FormatFloat(certified.Cutoff, 'g', -1, 32), certified.AllHitRate, certified.HitRate)
			}
			l := learned[b]
			if best == nil {
				fmt.Fprintf(stdout, "| %g%% | none within the budget | — | — | %.4f (%.4f) | %s | — | %s |\n", 100*b, l.AllHitRate, l.HitRate, l.WrongRate, sure)
				continue
			}
			fmt.Fprintf(stdout, "| %g%% | %s | %.4f (%.4f) | %s | %.4f (%.4f) | %s | %.2f | %s |\n", 100*b, strconv.FormatFloat(best.Cutoff, 'g', -1, 32),
				best.AllHitRate, best.HitRate, best.WrongRate, l.AllHitRate, l.HitRate, l.WrongRate, l.AllHitRate/max(best.AllHitRate, 1e-9), sure)
		}
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

// outcome is a semantic candidate, for --mistakes and --candidates.
type outcome struct {
	Request  int     `json:"request"`
	Kind     string  `json:"kind"`
	Query    string  `json:"query"`
	Entry    string  `json:"entry"`
	Score    float64 `json:"score"`
	Served   bool    `json:"served"`
	Right    bool    `json:"right"`
	Decision string  `json:"decision,omitempty"`
	Evidence string  `json:"evidence,omitempty"`
	Scored   string  `json:"scored,omitempty"`
	Alias    bool    `json:"alias,omitempty"`
}

// writeOutcomes writes the wrong semantic hits (onlyWrong) or every
// candidate.
func writeOutcomes(path string, stream []budgetrun.Request, out []budgetrun.Outcome, onlyWrong bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(f)
	for i, o := range out {
		served := o.Tier == "semantic"
		if (onlyWrong && (!served || o.Right)) || (!onlyWrong && !o.Candidate) {
			continue
		}
		err := enc.Encode(outcome{Request: i, Kind: stream[i].Kind, Query: stream[i].Text, Entry: o.EntryText, Score: o.Score,
			Served: served, Right: o.CandidateRight, Decision: o.Decision, Evidence: o.Evidence, Scored: o.ScoreKind, Alias: o.Alias})
		if err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}
