package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/semcache/semcache/bench/eval"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/cache/verify"
	"github.com/semcache/semcache/wire"
)

// replayOutput is what --mode cache|e2e --json prints.
type replayOutput struct {
	Mode         string             `json:"mode"`
	Embedder     string             `json:"embedder"`
	ModelID      string             `json:"model_id,omitempty"`
	Threshold    float32            `json:"threshold,omitempty"`
	Verifier     bool               `json:"verifier"`
	SemanticMode string             `json:"semantic_mode,omitempty"`
	Target       string             `json:"target,omitempty"`
	Split        string             `json:"split"`
	Seed         uint64             `json:"seed"`
	Report       *eval.ReplayReport `json:"report"`
}

// runReplay replays the pairs through the real lookup path in process
// (cache mode) or against a running semcache (e2e mode).
func runReplay(ctx context.Context, cfg evalConfig, all, pairs []eval.Pair, emb evalEmbedder, stdout, stderr io.Writer) error {
	sides, distractorPairs, err := loadDistractors(cfg.distractors)
	if err != nil {
		return err
	}
	// Texts of loaded pairs outside the run are distractors too (Replay
	// leaves out the run's own texts).
	for _, p := range all {
		sides = append(sides, p.SideA(), p.SideB())
	}
	classes := eval.Classes(append(append([]eval.Pair(nil), all...), distractorPairs...))

	out := replayOutput{Mode: cfg.mode, Embedder: cfg.embName, Verifier: !cfg.noVerifier, Split: cfg.split, Seed: cfg.seed}
	var backend eval.Backend
	switch cfg.mode {
	case modeE2E:
		b, err := eval.NewHTTPBackend(eval.HTTPBackendOptions{Target: cfg.target, Admin: cfg.admin, AdminToken: cfg.adminToken})
		if err != nil {
			return err
		}
		backend, out.Target, out.Embedder = b, cfg.target, ""
	default:
		b, err := eval.NewCacheBackend(eval.CacheBackendOptions{Embedder: emb, Semantic: semanticFunc(cfg), Mode: wire.PromptMode(cfg.semanticMode)})
		if err != nil {
			return err
		}
		backend, out.ModelID, out.SemanticMode = b, emb.ModelID(), cfg.semanticMode
		out.Threshold = float32(cfg.threshold)
		if out.Threshold == 0 {
			out.Threshold, _ = simtier.DefaultFloor(cfg.embName, !cfg.noVerifier)
		}
	}
	opts := eval.ReplayOptions{Sizes: cfg.sizes, Seed: cfg.seed, Classes: classes, Distractors: sides}
	if cfg.progress {
		opts.Progress = stderr
	}
	rep, err := eval.Replay(ctx, pairs, backend, opts)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	if cfg.asJSON {
		for i := range rep.Sizes {
			rep.Sizes[i].Records = nil // per-query detail stays out of the summary
		}
		out.Report = &rep
		return writeJSON(stdout, out)
	}
	if err := rep.PrintMarkdown(stdout, out.title()); err != nil {
		return err
	}
	if cfg.mistakes > 0 {
		return printReplayMistakes(ctx, stdout, cfg, rep, pairs, emb, cfg.mistakes)
	}
	return nil
}

func (o replayOutput) title() string {
	verifier := "on"
	if !o.Verifier {
		verifier = "off"
	}
	if o.Mode == modeE2E {
		return fmt.Sprintf("e2e against %s, split %s, seed %d", o.Target, o.Split, o.Seed)
	}
	return fmt.Sprintf("cache mode, embedder %s (%s), threshold %.2f, verifier %s, semantic-mode %s, split %s, seed %d",
		o.Embedder, o.ModelID, o.Threshold, verifier, o.SemanticMode, o.Split, o.Seed)
}

// printReplayMistakes prints, per size, up to n wrong answers served and n
// label-1 queries that missed, with the scores and the verifier's detail.
func printReplayMistakes(ctx context.Context, w io.Writer, cfg evalConfig, rep eval.ReplayReport, pairs []eval.Pair, emb evalEmbedder, n int) error {
	vo, err := cfg.words.options()
	if err != nil {
		return err
	}
	vo.Encoder = emb
	vo.Model = verify.ModelFor(emb.ModelID())
	vo.MinScore, vo.MaxFalseHitRate = float32(cfg.minScore), float32(cfg.maxFalseHit)
	v, err := verify.New(vo)
	if err != nil {
		return fmt.Errorf("eval: %w", err)
	}
	cos := eval.NewCosine(emb)
	ew := &stickyWriter{w: w}
	for _, sr := range rep.Sizes {
		var wrong, missed []eval.QueryRecord
		for _, r := range sr.Records {
			switch {
			case r.Hit() && !r.Correct():
				wrong = append(wrong, r)
			case !r.Hit() && r.Label == 1:
				missed = append(missed, r)
			}
		}
		fmt.Fprintf(ew, "\nsize %d: wrong answers served: %d\n", sr.Size, len(wrong))
		for i, r := range wrong {
			if i == n {
				break
			}
			p := pairs[r.Pair]
			verdict := v.Check(p.B, r.Outcome.EntryPrompt, r.Outcome.Similarity)
			detail := "accepts"
			if !verdict.OK {
				detail = verdict.Detail
			}
			fmt.Fprintf(ew, "  %.3f %s label %d %s/%s\n    query:  %s\n    served: %q\n",
				r.Outcome.Similarity, r.Outcome.Tier, r.Label, r.Family, r.Category, describe(p.SideB()), r.Outcome.EntryPrompt)
			if r.Outcome.Matched != "" && r.Outcome.Matched != r.Outcome.EntryPrompt {
				fmt.Fprintf(ew, "    through the alias %q\n", r.Outcome.Matched)
			}
			if r.Outcome.Tier == eval.TierSemantic {
				fmt.Fprintf(ew, "    served with score %.4f (%s)\n", r.Outcome.Score, r.Outcome.ScoreKind)
			}
			fmt.Fprintf(ew, "    verifier on query and served prompt: %s\n", detail)
		}
		fmt.Fprintf(ew, "\nsize %d: paraphrases missed: %d\n", sr.Size, len(missed))
		for i, r := range missed {
			if i == n {
				break
			}
			p := pairs[r.Pair]
			score, err := cos.Score(ctx, p.SideA(), p.SideB())
			if err != nil {
				return fmt.Errorf("eval: %w", err)
			}
			verdict := v.Check(p.B, p.A, float32(score))
			detail := "accepts"
			if !verdict.OK {
				detail = verdict.Detail
			}
			var rej []string
			for _, x := range r.Outcome.Rejections {
				rej = append(rej, fmt.Sprintf("%s at %.3f: %q", x.Reason, x.Score, x.Prompt))
			}
			fmt.Fprintf(ew, "  cos %.3f %s/%s\n    query:    %s\n    original: %s\n    verifier on the pair: %s\n",
				score, r.Family, r.Category, describe(p.SideB()), describe(p.SideA()), detail)
			if len(rej) > 0 {
				fmt.Fprintf(ew, "    rejected candidates: %s\n", strings.Join(rej, "; "))
			}
		}
	}
	return ew.err
}

// describe quotes a side's text with its context's user turns.
func describe(s eval.Side) string {
	var users []string
	for _, m := range s.Context {
		if m.Role == "user" {
			users = append(users, fmt.Sprintf("%q", m.Content))
		}
	}
	if len(users) == 0 {
		return fmt.Sprintf("%q", s.Text)
	}
	return fmt.Sprintf("%q after %s", s.Text, strings.Join(users, " → "))
}

// stickyWriter remembers the first write error.
type stickyWriter struct {
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	if err != nil {
		s.err = fmt.Errorf("eval: %w", err)
	}
	return n, err
}
