package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/embed/openai"
	"github.com/semcache/semcache/embed/use"
	"github.com/semcache/semcache/wire"
)

// Defaults of semcache-bench eval.
const (
	// defaultThresholds is the sweep of pairwise mode.
	defaultThresholds = "0.50,0.55,0.60,0.65,0.70,0.75,0.80,0.85,0.88,0.90,0.92,0.94,0.96,0.98,0.99"
	defaultSizes      = "100,1000,5000"
	defaultPairs      = "bench/testdata/pairs.jsonl"
	// defaultDistractors is used when present; an explicit --distractors
	// file must exist.
	defaultDistractors = "bench/testdata/distractors.txt"
	// evalTimeout bounds embedding and search per lookup in cache mode. It
	// is far above the service's defaults on purpose: the replay measures
	// the decision, not load shedding on a busy machine (degraded lookups
	// are counted).
	evalTimeout = 10 * time.Second
)

// Modes of semcache-bench eval.
const (
	modeCache    = "cache"
	modePairwise = "pairwise"
	modeE2E      = "e2e"
)

// evalConfig is everything runEval was told.
type evalConfig struct {
	mode          string
	pairs         *listFlag
	split         string
	limit         int
	seed          uint64
	embName       string
	dim           int
	modelDir      string
	baseURL       string
	model         string
	threshold     float64
	noVerifier    bool
	minScore      float64
	maxFalseHit   float64
	words         wordFlags
	asJSON        bool
	mistakes      int
	progress      bool
	sizes         []int
	distractors   *listFlag
	semanticMode  string
	topK          int
	target        string
	admin         string
	adminToken    string
	thresholds    []float32
	minPrecision  float64
	bootstrap     int
	sizesRaw      string
	thresholdsRaw string
}

// evalEmbedder is what runEval needs from an embedder.
type evalEmbedder interface {
	embed.Embedder
}

// runEval runs "semcache-bench eval": the replay through the real lookup
// path (cache), the same over HTTP against a running semcache (e2e), or
// per-pair scores (pairwise).
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := evalConfig{pairs: newListFlag(defaultPairs), distractors: newListFlag(defaultDistractors)}
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.mode, "mode", modeCache, "cache (replay through the real lookup path), e2e (the same over HTTP against --target) or pairwise (per-pair scores)")
	fs.Var(cfg.pairs, "pairs", "labelled pair files, repeatable or comma-separated (both schemas, see bench/eval)")
	fs.StringVar(&cfg.split, "split", eval.SplitAll, "which pairs to evaluate: tune, test (held out) or all")
	fs.IntVar(&cfg.limit, "limit", 0, "evaluate at most this many pairs (a seeded sample; 0: all)")
	fs.Uint64Var(&cfg.seed, "seed", 1, "seed of the batch assignment, distractor choice, query order, sample and bootstrap")
	fs.StringVar(&cfg.embName, "embedder", "lexical", "embedder: lexical, use or openai")
	fs.IntVar(&cfg.dim, "dimension", lexical.DefaultDimension, "vector dimension of the lexical embedder")
	fs.StringVar(&cfg.modelDir, "model-dir", os.Getenv("SEMCACHE_MODEL_DIR"), "model directory of the use embedder (default $SEMCACHE_MODEL_DIR)")
	fs.StringVar(&cfg.baseURL, "openai-base-url", "", "base URL of an OpenAI-compatible API (default the OpenAI API); the key is read from OPENAI_API_KEY")
	fs.StringVar(&cfg.model, "openai-model", "", "embedding model of the openai embedder")
	fs.Float64Var(&cfg.threshold, "threshold", 0, "similarity threshold of cache mode (0: the embedder's default, as semcache serve)")
	fs.BoolVar(&cfg.noVerifier, "no-verifier", false, "run without the verifier")
	fs.Float64Var(&cfg.minScore, "min-score", 0, "cache mode: an explicit cut-off of the verifier's score (as semcache serve --semantic-min-score; 0: none)")
	fs.Float64Var(&cfg.maxFalseHit, "max-false-hit-rate", 0, "cache mode: the verifier's cut-offs for this false-hit rate (as semcache serve --max-false-hit-rate; 0: the model's target)")
	cfg.words.register(fs)
	fs.BoolVar(&cfg.asJSON, "json", false, "print the report as JSON")
	fs.IntVar(&cfg.mistakes, "mistakes", 0, "print up to this many false hits and missed paraphrases (per size), with scores and the verifier's detail")
	fs.BoolVar(&cfg.progress, "progress", false, "print a line per batch to stderr")
	fs.StringVar(&cfg.sizesRaw, "sizes", defaultSizes, "cache sizes (entries per batch) of cache and e2e mode, comma-separated")
	fs.Var(cfg.distractors, "distractors", "distractor files for cache and e2e mode, repeatable or comma-separated: .txt (one question per line) or .jsonl pair files (both sides); the texts of loaded pairs outside the run are used too")
	fs.StringVar(&cfg.semanticMode, "semantic-mode", string(wire.PromptContext), "what the tier compares in cache mode: context, last or conversation (as semcache serve --semantic-mode)")
	fs.IntVar(&cfg.topK, "semantic-top-k", 5, "candidates verified per lookup in cache mode (as semcache serve)")
	fs.StringVar(&cfg.target, "target", "", "e2e: base URL of semcache's API (http://127.0.0.1:8080/v1); its upstream must be semcache-bench upstream --answers over the same pair files")
	fs.StringVar(&cfg.admin, "admin", "", "e2e: base URL of semcache's admin listener (http://127.0.0.1:8081), to wait for write-backs")
	fs.StringVar(&cfg.adminToken, "admin-token", "", "e2e: bearer token of the admin listener")
	fs.StringVar(&cfg.thresholdsRaw, "thresholds", defaultThresholds, "pairwise: comma-separated thresholds of the sweep")
	fs.Float64Var(&cfg.minPrecision, "min-precision", 0.98, "pairwise: precision (with the verifier) the suggested threshold must reach")
	fs.IntVar(&cfg.bootstrap, "bootstrap", eval.DefaultBootstrap, "pairwise: bootstrap resamples of the AUC interval")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: semcache-bench eval [--mode cache|e2e|pairwise] [flags]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return fmt.Errorf("eval: %w", err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("eval: unexpected arguments %q", fs.Args())
	}
	if err := cfg.validate(); err != nil {
		return err
	}

	all, err := eval.LoadFiles(cfg.pairs.values)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	pairs, split, err := eval.Select(all, cfg.split)
	if err != nil {
		return err
	}
	for _, g := range split.Giants {
		if cfg.split == eval.SplitAll {
			break
		}
		how := "placed whole"
		if g.SplitByText {
			how = fmt.Sprintf("split by text, %d pairs dropped", g.Dropped)
		}
		fmt.Fprintf(stderr, "eval: split: a component of %d pairs (%d texts, from %q) is larger than %.0f%% of the pairs: %s\n",
			g.Pairs, g.Texts, oneLine(g.Smallest), 100*eval.GiantFraction, how)
	}
	pairs = sample(pairs, cfg.limit, cfg.seed)
	if len(pairs) == 0 {
		return fmt.Errorf("eval: the %s split is empty", cfg.split)
	}

	var emb evalEmbedder
	if cfg.mode != modeE2E || cfg.mistakes > 0 {
		if emb, err = newEvalEmbedder(ctx, cfg.embName, cfg.dim, cfg.modelDir, cfg.baseURL, cfg.model); err != nil {
			return err
		}
	}
	switch cfg.mode {
	case modePairwise:
		return runPairwise(ctx, cfg, pairs, emb, stdout)
	default:
		return runReplay(ctx, cfg, all, pairs, emb, stdout, stderr)
	}
}

func (c *evalConfig) validate() error {
	var errs []error
	switch c.mode {
	case modeCache, modePairwise:
	case modeE2E:
		if c.target == "" || c.admin == "" {
			errs = append(errs, errors.New("eval: --mode e2e needs --target and --admin"))
		}
	default:
		errs = append(errs, fmt.Errorf("eval: unknown mode %q (want cache, e2e or pairwise)", c.mode))
	}
	switch c.split {
	case eval.SplitTune, eval.SplitTest, eval.SplitAll:
	default:
		errs = append(errs, fmt.Errorf("eval: unknown split %q (want tune, test or all)", c.split))
	}
	if c.limit < 0 {
		errs = append(errs, fmt.Errorf("eval: --limit %d is negative", c.limit))
	}
	if len(c.pairs.values) == 0 {
		errs = append(errs, errors.New("eval: --pairs is empty"))
	}
	if c.threshold < 0 || c.threshold > 1 || math.IsNaN(c.threshold) {
		errs = append(errs, fmt.Errorf("eval: --threshold %v: want 0 (default) or a value in (0, 1]", c.threshold))
	}
	if c.mistakes < 0 {
		errs = append(errs, fmt.Errorf("eval: --mistakes %d is negative", c.mistakes))
	}
	if c.minPrecision < 0 || c.minPrecision > 1 {
		errs = append(errs, fmt.Errorf("eval: --min-precision %v is outside [0, 1]", c.minPrecision))
	}
	if c.bootstrap < 1 {
		errs = append(errs, fmt.Errorf("eval: --bootstrap %d: want at least 1", c.bootstrap))
	}
	if c.topK < 1 {
		errs = append(errs, fmt.Errorf("eval: --semantic-top-k %d: want at least 1", c.topK))
	}
	switch wire.PromptMode(c.semanticMode) {
	case wire.PromptContext, wire.PromptLastMessage, wire.PromptConversation:
	default:
		errs = append(errs, fmt.Errorf("eval: --semantic-mode %q: want context, last or conversation", c.semanticMode))
	}
	sizes, err := parseSizes(c.sizesRaw)
	if err != nil {
		errs = append(errs, err)
	}
	c.sizes = sizes
	ths, err := parseThresholds(c.thresholdsRaw)
	if err != nil {
		errs = append(errs, err)
	}
	c.thresholds = ths
	return errors.Join(errs...)
}

// sample returns up to n pairs drawn with seed (all when n is 0 or more
// than there are), in input order.
func sample(pairs []eval.Pair, n int, seed uint64) []eval.Pair {
	if n <= 0 || n >= len(pairs) {
		return pairs
	}
	keep := make([]bool, len(pairs))
	for _, i := range newRand(seed).Perm(len(pairs))[:n] {
		keep[i] = true
	}
	out := make([]eval.Pair, 0, n)
	for i, p := range pairs {
		if keep[i] {
			out = append(out, p)
		}
	}
	return out
}

// oneLine shows a key (context user turns and text, one per line) on one
// line.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " → ") }

// parseSizes parses a comma-separated list of cache sizes (at least 2).
func parseSizes(s string) ([]int, error) {
	var out []int
	var errs []error
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 2 {
			errs = append(errs, fmt.Errorf("eval: cache size %q: want an integer >= 2", f))
			continue
		}
		out = append(out, n)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, errors.New("eval: --sizes is empty")
	}
	return out, nil
}

// parseThresholds parses a comma-separated list of thresholds in [-1, 1].
func parseThresholds(s string) ([]float32, error) {
	var out []float32
	var errs []error
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		v, err := strconv.ParseFloat(f, 32)
		if err != nil || math.IsNaN(v) || v < -1 || v > 1 {
			errs = append(errs, fmt.Errorf("eval: threshold %q is not a number in [-1, 1]", f))
			continue
		}
		out = append(out, float32(v))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, errors.New("eval: --thresholds is empty")
	}
	return out, nil
}

// loadDistractors reads distractor files: .jsonl pair files give both
// sides of each pair (and the pairs, whose classes count), anything else
// one question per non-empty line (lines starting with # are comments).
// The default file may be missing.
func loadDistractors(l *listFlag) ([]eval.Side, []eval.Pair, error) {
	var out []eval.Side
	var all []eval.Pair
	for _, path := range l.values {
		if strings.HasSuffix(path, ".jsonl") {
			pairs, err := eval.LoadFile(path)
			if err != nil {
				return nil, nil, fmt.Errorf("eval: distractors: %w", err)
			}
			for _, p := range pairs {
				out = append(out, p.SideA(), p.SideB())
			}
			all = append(all, pairs...)
			continue
		}
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) && !l.set && path == defaultDistractors {
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("eval: distractors: %w", err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			out = append(out, eval.Side{Text: line})
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("eval: distractors: %s: %w", path, err)
		}
	}
	return out, all, nil
}

// newEvalEmbedder builds the embedder named by name.
func newEvalEmbedder(ctx context.Context, name string, dim int, modelDir, baseURL, model string) (evalEmbedder, error) {
	switch name {
	case "lexical":
		e, err := lexical.New(lexical.Options{Dimension: dim})
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		return e, nil
	case "use":
		if modelDir == "" {
			return nil, errors.New("eval: --embedder use needs --model-dir or $SEMCACHE_MODEL_DIR (a directory with model.json, the weight shards and vocab.json)")
		}
		e, err := use.Load(modelDir)
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		return e, nil
	case "openai":
		if model == "" {
			return nil, errors.New("eval: --embedder openai needs --openai-model")
		}
		e, err := openai.New(ctx, openai.Options{BaseURL: baseURL, APIKey: os.Getenv("OPENAI_API_KEY"), Model: model})
		if err != nil {
			return nil, fmt.Errorf("eval: %w", err)
		}
		return e, nil
	default:
		return nil, fmt.Errorf("eval: unknown embedder %q (want lexical, use or openai)", name)
	}
}

func newVerifier() (*verify.Verifier, error) {
	v, err := verify.New(verify.Options{})
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	return v, nil
}

func wrapWrite(err error) error {
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("eval: writing JSON: %w", err)
	}
	return nil
}

// semanticFunc builds the similarity tier exactly as semcache serve does
// (cache/simtier), with the evaluation's embedder kind, threshold and
// verifier switch.
func semanticFunc(cfg evalConfig) eval.SemanticFunc {
	return func(emb cache.Embedder, idx cache.Index) (cache.SemanticOptions, error) {
		vo, err := cfg.words.options()
		if err != nil {
			return cache.SemanticOptions{}, err
		}
		vo.MinScore = float32(cfg.minScore)
		return simtier.Options(simtier.Config{
			Embedder:        emb,
			Index:           idx,
			Kind:            cfg.embName,
			Threshold:       float32(cfg.threshold),
			TopK:            cfg.topK,
			EmbedTimeout:    evalTimeout,
			SearchTimeout:   evalTimeout,
			NoVerifier:      cfg.noVerifier,
			Verifier:        vo,
			MaxFalseHitRate: float32(cfg.maxFalseHit),
		})
	}
}
