package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache/verify"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x6576616c)) }

// pairwiseOutput is what --mode pairwise --json prints.
type pairwiseOutput struct {
	Embedder     string               `json:"embedder"`
	ModelID      string               `json:"model_id"`
	Split        string               `json:"split"`
	MinPrecision float64              `json:"min_precision"`
	Best         *bestOutput          `json:"best"`
	Scores       *eval.PairwiseReport `json:"scores"`
	Report       *eval.Report         `json:"report"`
}

type bestOutput struct {
	Threshold float32      `json:"threshold"`
	Verified  eval.Metrics `json:"with_verifier"`
	Plain     eval.Metrics `json:"without_verifier"`
}

// runPairwise scores every pair: the embedder's cosine and the cosine gated
// by the verifier (AUC, recall at 1% and 2% false positives, per family and
// type), then the threshold sweep with and without the verifier.
func runPairwise(ctx context.Context, cfg evalConfig, pairs []eval.Pair, emb evalEmbedder, stdout io.Writer) error {
	var checker eval.Checker
	cos := eval.NewCosine(emb)
	cols := []eval.Column{{Name: "cosine", Scorer: cos}}
	if !cfg.noVerifier {
		v, err := newVerifier()
		if err != nil {
			return err
		}
		checker = v
		cols = append(cols, eval.Column{Name: "cosine+verifier", Scorer: eval.Gated{Inner: cos, Checker: v}})
		vo, err := cfg.words.options()
		if err != nil {
			return err
		}
		vo.Encoder, vo.Model, vo.MinScore = emb, verify.ModelFor(emb.ModelID()), 1e-6
		cal, err := verify.New(vo)
		if err != nil {
			return fmt.Errorf("eval: %w", err)
		}
		cols = append(cols, eval.Column{Name: "calibrated score", Scorer: eval.Calibrated{Inner: cos, Verifier: cal}})
	}
	scores, err := eval.Pairwise(ctx, pairs, cols, eval.PairwiseOptions{Bootstrap: cfg.bootstrap, Seed: cfg.seed})
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	rep, err := eval.Evaluate(ctx, pairs, emb, checker, cfg.thresholds)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	best, ok := rep.Best(cfg.minPrecision)

	if cfg.asJSON {
		out := pairwiseOutput{Embedder: cfg.embName, ModelID: emb.ModelID(), Split: cfg.split, MinPrecision: cfg.minPrecision,
			Scores: &scores, Report: &rep}
		if ok {
			out.Best = &bestOutput{Threshold: best.Threshold, Verified: best.Verified, Plain: best.Plain}
		}
		scores.Scored = nil // per-pair detail stays out of the summary
		rep.Scored = nil
		return writeJSON(stdout, out)
	}

	if _, err := fmt.Fprintf(stdout, "embedder: %s (%s), split: %s\n\n", cfg.embName, emb.ModelID(), cfg.split); err != nil {
		return wrapWrite(err)
	}
	if err := scores.Print(stdout); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout); err != nil {
		return wrapWrite(err)
	}
	if err := rep.Print(stdout); err != nil {
		return err
	}
	if !ok {
		_, err := fmt.Fprintf(stdout, "\nno threshold reaches precision %.2f with the verifier\n", cfg.minPrecision)
		return wrapWrite(err)
	}
	if _, err := fmt.Fprintf(stdout, "\nsuggested threshold: %.2f (lowest reaching precision %.2f with the verifier): precision %.3f, recall %.3f, false-hit rate %.3f; without the verifier precision %.3f, recall %.3f\n",
		best.Threshold, cfg.minPrecision, best.Verified.Precision, best.Verified.Recall, best.Verified.FalseHitRate, best.Plain.Precision, best.Plain.Recall); err != nil {
		return wrapWrite(err)
	}
	if cfg.mistakes > 0 {
		falseHits, missed := rep.Mistakes(best.Threshold)
		if err := printScoredMistakes(stdout, "false hits", falseHits, cfg.mistakes); err != nil {
			return err
		}
		if err := printScoredMistakes(stdout, "missed duplicates", missed, cfg.mistakes); err != nil {
			return err
		}
	}
	return nil
}

func printScoredMistakes(w io.Writer, title string, list []eval.Scored, n int) error {
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
		if _, err := fmt.Fprintf(w, "  %.3f %-12s %q | %q%s\n", s.Score, s.Category(), s.A, s.B, reason); err != nil {
			return wrapWrite(err)
		}
	}
	return nil
}
