package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"go/format"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/wire"
)

// Defaults of semcache-bench train.
const (
	defaultTrainPairs = "../shared/data/dev-statements.jsonl,bench/testdata/questions.jsonl"
	// defaultTargets are the false-hit rates cut-offs are chosen for;
	// defaultTarget is the one a model serves by default.
	defaultTargets = "0.005,0.01,0.02,0.03,0.05"
	defaultTarget  = 0.02
	// trainSize is the cache size (entries per tenant) of the replay that
	// chooses the cut-offs.
	trainSize = 1000
	// floorQuantile of the tune split's paraphrase similarities is the
	// candidate search's floor: all but this share of paraphrases are
	// retrievable.
	floorQuantile = 0.03
	// minedPerQuery is how many of its closest other-class texts each
	// tune query gets as mined negatives (the cache judges its top 5).
	minedPerQuery = 3
)

// runTrain runs "semcache-bench train": it fits the verifier's calibrated
// score on the tune split, chooses its cut-offs with a cache-level replay
// of the same split, and writes the models as Go code.
func runTrain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("train", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pairFiles := newListFlag(strings.Split(defaultTrainPairs, ",")...)
	fs.Var(pairFiles, "pairs", "labelled pair files (repeatable or comma-separated); the tune split of them is used")
	distractors := newListFlag(defaultDistractors)
	fs.Var(distractors, "distractors", "distractor files of the cut-off replay")
	embedders := fs.String("embedders", "use,lexical", "embedders to train a model for (use, lexical)")
	modelDir := fs.String("model-dir", os.Getenv("SEMCACHE_MODEL_DIR"), "model directory of the use embedder (default $SEMCACHE_MODEL_DIR)")
	targetsRaw := fs.String("targets", defaultTargets, "false-hit rates to choose cut-offs for")
	target := fs.Float64("target", defaultTarget, "the false-hit rate a model serves by default (one of --targets)")
	out := fs.String("out", "cache/verify/model_gen.go", "Go file to write ('-': stdout)")
	seed := fs.Uint64("seed", 1, "seed of the replay")
	show := fs.Int("show", 0, "print the N best-scored look-alikes and worst-scored paraphrases per family")
	var words wordFlags
	words.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("train: %w", err)
	}
	targets, err := parseThresholds(*targetsRaw)
	if err != nil {
		return fmt.Errorf("train: --targets: %w", err)
	}
	if !slices.Contains(targets, float32(*target)) {
		return fmt.Errorf("train: --target %v is not one of --targets", *target)
	}
	all, err := eval.LoadFiles(pairFiles.values)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	tune, _ := eval.Split(all)
	vopts, err := words.options()
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	base, err := verify.New(vopts)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	dsides, dpairs, err := loadDistractors(distractors)
	if err != nil {
		return err
	}
	// Mined negatives come from the distractors and the tune split only:
	// held-out texts never reach training.
	minePool := slices.Clone(dsides)
	for _, p := range all {
		dsides = append(dsides, p.SideA(), p.SideB())
	}
	classes := eval.Classes(append(append([]eval.Pair(nil), all...), dpairs...))

	var models []*verify.Model
	for _, name := range strings.Split(*embedders, ",") {
		raw, err := newEvalEmbedder(ctx, name, lexical.DefaultDimension, *modelDir, "", "")
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		emb := embed.NewCached(raw, embed.CacheOptions{})
		mined, err := eval.MineNegatives(ctx, tune, eval.MineOptions{Embedder: emb, Classes: classes, Pool: minePool, PerQuery: minedPerQuery, Floor: 0.3})
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		ex, err := eval.Examples(ctx, append(slices.Clone(tune), mined...), eval.ExampleOptions{Verifier: base, Embedder: emb})
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		m, err := eval.FitModel(raw.ModelID(), ex, eval.FitOptions{})
		if err != nil {
			return fmt.Errorf("train: %s: %w", name, err)
		}
		m.MinSimilarity = similarityFloor(ex)
		fmt.Fprintf(stderr, "train: %s: %d tune pairs, similarity floor %.3f\n", name, len(ex), m.MinSimilarity)
		printWeights(stderr, name, m)
		printPairwise(stderr, name, m, ex)
		if *show > 0 {
			printTopNegatives(stderr, m, ex, *show)
		}

		// Replay the tune split with every unvetoed candidate accepted
		// and read the cut-offs off the served scores.
		vo := vopts
		vo.Model = m
		vo.MinScore = 1e-6
		b, err := eval.NewCacheBackend(eval.CacheBackendOptions{Embedder: emb, Mode: wire.PromptContext,
			Semantic: func(e cache.Embedder, idx cache.Index) (cache.SemanticOptions, error) {
				return simtier.Options(simtier.Config{Embedder: e, Index: idx, Kind: name, Threshold: m.MinSimilarity,
					EmbedTimeout: evalTimeout, SearchTimeout: evalTimeout, Verifier: vo})
			}})
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		rep, err := eval.Replay(ctx, tune, b, eval.ReplayOptions{Sizes: []int{trainSize}, Seed: *seed, Classes: classes, Distractors: dsides})
		if err != nil {
			return fmt.Errorf("train: %w", err)
		}
		// Scores are calibrated to 1 - (pairwise false rate): cut-offs
		// live just below 1.
		var grid []float32
		for r := 0.5; r >= 0.0005; r *= 0.9 {
			grid = append(grid, float32(1-r))
		}
		// Each kind of hit gets its cut-off; together they keep a
		// family within the target (a family's hits are almost all of one
		// kind: questions are requests, statements descriptions).
		req := eval.SweepCutoffs(rep.Sizes[0].Records, "request", grid)
		desc := eval.SweepCutoffs(rep.Sizes[0].Records, "description", grid)
		m.Target = float32(*target)
		m.Cutoffs = nil
		for _, t := range targets {
			c := verify.Cutoff{FalseHitRate: t, Request: eval.ChooseCutoff(req, float64(t)), Description: eval.ChooseCutoff(desc, float64(t))}
			m.Cutoffs = append(m.Cutoffs, c)
			fmt.Fprintf(stderr, "train: %s: false-hit rate <= %.3f: request cut-off %.4f %s; description cut-off %.4f %s\n",
				name, t, c.Request, pointLine(req, c.Request), c.Description, pointLine(desc, c.Description))
		}
		models = append(models, m)
	}
	src, err := modelSource(models, *pairFiles)
	if err != nil {
		return err
	}
	if *out == "-" {
		_, err = stdout.Write(src)
		return wrapWrite(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	fmt.Fprintf(stderr, "train: wrote %s\n", *out)
	return nil
}

// similarityFloor is the lower of the two kinds' floorQuantile quantiles
// of the similarity of the paraphrases no rule vetoes: reworded requests
// sit far lower than reworded descriptions.
func similarityFloor(ex []eval.Example) float32 {
	floor := float32(1)
	for _, request := range []bool{true, false} {
		var sims []float32
		for _, e := range ex {
			if e.Pair.Label == 1 && e.Vetoed == "" && e.Features.Request == request {
				sims = append(sims, e.Sim)
			}
		}
		if len(sims) == 0 {
			continue
		}
		slices.Sort(sims)
		floor = min(floor, sims[int(floorQuantile*float64(len(sims)))])
	}
	return float32(int(floor*100)) / 100 // two decimals, rounded down
}

// pointLine describes the sweep point at cut-off c.
func pointLine(points []eval.CutoffPoint, c float32) string {
	for _, p := range points {
		if p.MinScore == c {
			return fmt.Sprintf("(worst family %.3f, recall %.3f; %s)", p.FalseHitRate, p.Recall, familyLine(p))
		}
	}
	return "(no hits within the target)"
}

func familyLine(p eval.CutoffPoint) string {
	var parts []string
	for _, fam := range sortedKeys(p.Families) {
		f := p.Families[fam]
		parts = append(parts, fmt.Sprintf("%s %.3f/%.3f", fam, f.FalseHitRate, f.Recall))
	}
	return "false hits/recall: " + strings.Join(parts, ", ")
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// modelSource renders the models as the Go file cache/verify/model_gen.go.
func modelSource(models []*verify.Model, pairs listFlag) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString("// Code generated by semcache-bench train; DO NOT EDIT.\n")
	b.WriteString("//\n// go run ./cmd/semcache-bench train --pairs " + strings.Join(pairs.values, ",") + "\n\n")
	b.WriteString("package verify\n\n")
	for _, m := range models {
		v := "LexicalModel"
		if m == verify.ModelFor(m.Name) || strings.HasPrefix(m.Name, "use-lite") {
			v = "USEModel"
		}
		fmt.Fprintf(&b, "// %s is the shipped model for %s, trained on the tune split.\n", v, m.Name)
		fmt.Fprintf(&b, "var %s = &Model{\n", v)
		fmt.Fprintf(&b, "Name: %q,\n", m.Name)
		writeLogistic(&b, "Request", m.Request)
		writeLogistic(&b, "Description", m.Description)
		fmt.Fprintf(&b, "MinSimilarity: %s,\nTarget: %s,\nCutoffs: []Cutoff{\n", f32(m.MinSimilarity), f32(m.Target))
		for _, c := range m.Cutoffs {
			fmt.Fprintf(&b, "{FalseHitRate: %s, Request: %s, Description: %s},\n", f32(c.FalseHitRate), f32(c.Request), f32(c.Description))
		}
		b.WriteString("},\n}\n\n")
	}
	src, err := format.Source(b.Bytes())
	if err != nil {
		return nil, fmt.Errorf("train: format generated code: %w", err)
	}
	return src, nil
}

func writeLogistic(b *bytes.Buffer, field string, l verify.Logistic) {
	fmt.Fprintf(b, "%s: Logistic{Bias: %s, Weights: [NumFeatures]float32{\n", field, f32(l.Bias))
	for i, name := range verify.FeatureNames() {
		fmt.Fprintf(b, "%s, // %s\n", f32(l.Weights[i]), name)
	}
	b.WriteString("}, Calibration: []CalibrationPoint{")
	for _, p := range l.Calibration {
		fmt.Fprintf(b, "{%s, %s}, ", f32(p.Raw), f32(p.FalseRate))
	}
	b.WriteString("}},\n")
}

func f32(x float32) string { return strconv.FormatFloat(float64(x), 'g', 6, 32) }

func printWeights(w io.Writer, name string, m *verify.Model) {
	for _, half := range []struct {
		name string
		l    verify.Logistic
	}{{"request", m.Request}, {"description", m.Description}} {
		var parts []string
		for i, f := range verify.FeatureNames() {
			if half.l.Weights[i] != 0 {
				parts = append(parts, fmt.Sprintf("%s %.2f", f, half.l.Weights[i]))
			}
		}
		fmt.Fprintf(w, "train: %s: %s: bias %.2f, %s\n", name, half.name, half.l.Bias, strings.Join(parts, ", "))
	}
}

// printPairwise reports the model's pairwise separation on the examples,
// per family: what the cache-level replay starts from.
func printPairwise(w io.Writer, name string, m *verify.Model, ex []eval.Example) {
	type scored struct{ pos, neg []float64 }
	by := map[string]*scored{}
	for _, e := range ex {
		fam := e.Pair.Family()
		if by[fam] == nil {
			by[fam] = &scored{}
		}
		s := 0.0
		if e.Vetoed == "" {
			s = float64(m.Score(&e.Features, e.Sim, e.Residual))
		}
		if e.Pair.Label == 1 {
			by[fam].pos = append(by[fam].pos, s)
		} else {
			by[fam].neg = append(by[fam].neg, s)
		}
	}
	for _, fam := range sortedKeys(by) {
		sc := by[fam]
		var parts []string
		for _, fpr := range []float64{0.01, 0.02, 0.03, 0.05} {
			parts = append(parts, fmt.Sprintf("R@%g%% %.3f", 100*fpr, eval.RecallAtFPR(sc.pos, sc.neg, fpr).Recall))
		}
		fmt.Fprintf(w, "train: %s: pairwise %s: AUC %.3f, %s (n=%d/%d)\n", name, fam, eval.AUC(sc.pos, sc.neg), strings.Join(parts, " "), len(sc.pos), len(sc.neg))
	}
}

func printTopNegatives(w io.Writer, m *verify.Model, ex []eval.Example, n int) {
	score := func(e *eval.Example) float32 {
		if e.Vetoed != "" {
			return 0
		}
		return m.Score(&e.Features, e.Sim, e.Residual)
	}
	by := map[string][]*eval.Example{}
	for i := range ex {
		by[ex[i].Pair.Family()] = append(by[ex[i].Pair.Family()], &ex[i])
	}
	for _, fam := range sortedKeys(by) {
		list := by[fam]
		slices.SortFunc(list, func(a, b *eval.Example) int {
			sa, sb := score(a), score(b)
			switch {
			case sa > sb:
				return -1
			case sa < sb:
				return 1
			}
			return 0
		})
		fmt.Fprintf(w, "== %s: best-scored look-alikes\n", fam)
		k := 0
		for _, e := range list {
			if e.Pair.Label == 0 && k < n {
				k++
				fmt.Fprintf(w, "  %.3f sim %.2f res %.2f req=%v only %v | %v | %q || %q\n", score(e), e.Sim, e.Residual, e.Features.Request, e.Features.OnlyWordsA, e.Features.OnlyWordsB, e.Pair.B, e.Pair.A)
			}
		}
		fmt.Fprintf(w, "== %s: worst-scored paraphrases\n", fam)
		k = 0
		for i := len(list) - 1; i >= 0 && k < n; i-- {
			if e := list[i]; e.Pair.Label == 1 {
				k++
				fmt.Fprintf(w, "  %.3f %s sim %.2f res %.2f req=%v only %v | %v | %q || %q\n", score(e), e.Vetoed, e.Sim, e.Residual, e.Features.Request, e.Features.OnlyWordsA, e.Features.OnlyWordsB, e.Pair.B, e.Pair.A)
			}
		}
	}
}
