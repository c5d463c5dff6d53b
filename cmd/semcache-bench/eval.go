package main

import (
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

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/embed/openai"
	"github.com/semcache/semcache/embed/use"
)

// defaultThresholds is the sweep runEval reports when --thresholds is not
// given.
const defaultThresholds = "0.50,0.55,0.60,0.65,0.70,0.75,0.80,0.85,0.88,0.90,0.92,0.94,0.96,0.98,0.99"

// evalOutput is what --json prints.
type evalOutput struct {
	Embedder     string       `json:"embedder"`
	ModelID      string       `json:"model_id"`
	MinPrecision float64      `json:"min_precision"`
	Best         *bestOutput  `json:"best"`
	Report       *eval.Report `json:"report"`
}

type bestOutput struct {
	Threshold float32      `json:"threshold"`
	Verified  eval.Metrics `json:"with_verifier"`
	Plain     eval.Metrics `json:"without_verifier"`
}

// evalEmbedder is what runEval needs from an embedder.
type evalEmbedder interface {
	eval.Embedder
	ModelID() string
}

// runEval runs "semcache-bench eval": it scores the labelled pairs with an
// embedder, with and without the verifier, and prints precision and recall
// per similarity threshold.
func runEval(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pairsPath := fs.String("pairs", "bench/testdata/pairs.jsonl", "labelled pairs file (JSON Lines)")
	embName := fs.String("embedder", "lexical", "embedder: lexical, use or openai")
	dim := fs.Int("dimension", lexical.DefaultDimension, "vector dimension of the lexical embedder")
	modelDir := fs.String("model-dir", "", "model directory of the use embedder")
	baseURL := fs.String("openai-base-url", "", "base URL of an OpenAI-compatible API (default the OpenAI API); the key is read from OPENAI_API_KEY")
	model := fs.String("openai-model", "", "embedding model of the openai embedder")
	thresholdList := fs.String("thresholds", defaultThresholds, "comma-separated similarity thresholds")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	minPrecision := fs.Float64("min-precision", 0.98, "precision (with the verifier) the suggested threshold must reach")
	mistakes := fs.Int("mistakes", 0, "print up to this many false hits and missed duplicates at the suggested threshold")
	noVerifier := fs.Bool("no-verifier", false, "evaluate without the verifier (both columns then agree)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: semcache-bench eval [flags]")
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
	thresholds, err := parseThresholds(*thresholdList)
	if err != nil {
		return err
	}
	if *minPrecision < 0 || *minPrecision > 1 {
		return fmt.Errorf("eval: --min-precision %v is outside [0, 1]", *minPrecision)
	}

	f, err := os.Open(*pairsPath)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	pairs, err := eval.Load(f)
	f.Close()
	if err != nil {
		return fmt.Errorf("eval: %s: %w", *pairsPath, err)
	}

	emb, err := newEvalEmbedder(ctx, *embName, *dim, *modelDir, *baseURL, *model)
	if err != nil {
		return err
	}
	var checker eval.Checker
	if !*noVerifier {
		v, err := verify.New(verify.Options{})
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		checker = v
	}
	rep, err := eval.Evaluate(ctx, pairs, emb, checker, thresholds)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	best, ok := rep.Best(*minPrecision)

	if *asJSON {
		out := evalOutput{Embedder: *embName, ModelID: emb.ModelID(), MinPrecision: *minPrecision, Report: &rep}
		if ok {
			out.Best = &bestOutput{Threshold: best.Threshold, Verified: best.Verified, Plain: best.Plain}
		}
		rep.Scored = nil // per-pair detail stays out of the summary
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return fmt.Errorf("eval: writing JSON: %w", err)
		}
		return nil
	}

	if _, err := fmt.Fprintf(stdout, "embedder: %s (%s)\n", *embName, emb.ModelID()); err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if err := rep.Print(stdout); err != nil {
		return err
	}
	if !ok {
		_, err := fmt.Fprintf(stdout, "\nno threshold reaches precision %.2f with the verifier\n", *minPrecision)
		return wrapWrite(err)
	}
	if _, err := fmt.Fprintf(stdout, "\nsuggested threshold: %.2f (lowest reaching precision %.2f with the verifier): precision %.3f, recall %.3f, false-hit rate %.3f; without the verifier precision %.3f, recall %.3f\n",
		best.Threshold, *minPrecision, best.Verified.Precision, best.Verified.Recall, best.Verified.FalseHitRate, best.Plain.Precision, best.Plain.Recall); err != nil {
		return wrapWrite(err)
	}
	if *mistakes > 0 {
		falseHits, missed := rep.Mistakes(best.Threshold)
		if err := printMistakes(stdout, "false hits", falseHits, *mistakes); err != nil {
			return err
		}
		if err := printMistakes(stdout, "missed duplicates", missed, *mistakes); err != nil {
			return err
		}
	}
	return nil
}

func wrapWrite(err error) error {
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	return nil
}

func printMistakes(w io.Writer, title string, list []eval.Scored, n int) error {
	if _, err := fmt.Fprintf(w, "\n%s at the suggested threshold: %d\n", title, len(list)); err != nil {
		return wrapWrite(err)
	}
	for i, s := range list {
		if i == n {
			break
		}
		reason := ""
		if !s.Verdict.OK {
			reason = " [" + s.Verdict.Detail + "]"
		}
		if _, err := fmt.Fprintf(w, "  %.3f %-12s %q | %q%s\n", s.Score, s.Kind, s.A, s.B, reason); err != nil {
			return wrapWrite(err)
		}
	}
	return nil
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
			return nil, errors.New("eval: --embedder use needs --model-dir (a directory with model.json, the weight shards and vocab.json)")
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
