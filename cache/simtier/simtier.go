// Package simtier assembles the similarity tier's options (verifier,
// thresholds, candidate count, time limits) into cache.SemanticOptions. It
// is the one place that wiring lives, so the service (cmd/semcache) and its
// evaluation (semcache-bench eval) run exactly the same decision: a change
// to how a semantic hit is decided is made here, or in what this package
// calls, and both pick it up.
package simtier

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/verify"
)

// DefaultThresholds are the similarity thresholds per embedder kind
// (lexical, use, openai) used when none is configured. They were chosen with
// `semcache-bench eval` (see the README): the lowest threshold whose
// precision with the verifier stays at or above 0.98 on the shipped pairs.
var DefaultThresholds = map[string]float32{
	"lexical": 0.60,
	"use":     0.70,
	"openai":  0.85,
}

// DefaultFloor is the default similarity floor of candidate search for an
// embedder kind: with the verifier, the floor semcache-bench train chose
// for the kind's model (the verifier's score decides; the floor only has
// to keep the paraphrases the evaluation saw); without it, or for a kind
// without a trained model, DefaultThreshold.
func DefaultFloor(kind string, verifier bool) (float32, bool) {
	if verifier {
		switch kind {
		case "use":
			return verify.USEModel.MinSimilarity, true
		case "lexical":
			return verify.LexicalModel.MinSimilarity, true
		}
	}
	return DefaultThreshold(kind)
}

// DefaultThreshold returns the default threshold of an embedder kind, and
// false for an unknown kind.
func DefaultThreshold(kind string) (float32, bool) {
	t, ok := DefaultThresholds[kind]
	return t, ok
}

// Config is what the similarity tier is built from. Embedder and Index are
// required; every other zero value selects the default.
type Config struct {
	// Embedder embeds prompts (callers wrap it in embed.NewCached).
	Embedder cache.Embedder
	// Index is the vector store.
	Index cache.Index
	// Kind is the embedder kind ("lexical", "use", "openai"); it selects
	// the default threshold.
	Kind string
	// Threshold overrides the kind's default when positive.
	Threshold float32
	// Thresholds override Threshold per namespace.
	Thresholds map[string]float32
	// Shadow lists namespaces in shadow mode; ShadowAll puts all in it.
	Shadow    map[string]bool
	ShadowAll bool
	// TopK candidates are verified per lookup (0: the cache's default).
	TopK int
	// EmbedTimeout and SearchTimeout bound the lookup (0: the cache's
	// defaults).
	EmbedTimeout, SearchTimeout time.Duration
	// NoVerifier serves any candidate above the threshold (evaluation only:
	// it measures what the verifier adds).
	NoVerifier bool
	// Verifier configures the verifier (zero value: its defaults). Its
	// Encoder defaults to Embedder (the deletion test embeds with the
	// similarity tier's own model) and its Model to the shipped model of
	// the embedder (verify.ModelFor).
	Verifier verify.Options
	// MaxFalseHitRate picks the verifier's score cut-off: the cut-off the
	// model's cache-level evaluation showed to keep the false-hit rate
	// within it (0: the model's default target). Verifier.MinScore, when
	// set, wins.
	MaxFalseHitRate float32
}

// Options builds the similarity tier's cache options from cfg.
func Options(cfg Config) (cache.SemanticOptions, error) {
	var errs []error
	if cfg.Embedder == nil {
		errs = append(errs, errors.New("simtier: no embedder"))
	}
	if cfg.Index == nil {
		errs = append(errs, errors.New("simtier: no index"))
	}
	threshold := cfg.Threshold
	if threshold <= 0 && cfg.Verifier.Model != nil && !cfg.NoVerifier {
		threshold = cfg.Verifier.Model.MinSimilarity
	}
	if threshold <= 0 {
		t, ok := DefaultFloor(cfg.Kind, !cfg.NoVerifier)
		if !ok {
			errs = append(errs, fmt.Errorf("simtier: no default threshold for embedder kind %q; set one", cfg.Kind))
		}
		threshold = t
	}
	if cfg.MaxFalseHitRate < 0 || cfg.MaxFalseHitRate > 1 {
		errs = append(errs, fmt.Errorf("simtier: MaxFalseHitRate %v is outside [0, 1]", cfg.MaxFalseHitRate))
	}
	var vf cache.Judge
	if !cfg.NoVerifier && cfg.Embedder != nil {
		vo := cfg.Verifier
		if vo.Encoder == nil {
			vo.Encoder = cfg.Embedder
		}
		if vo.Model == nil {
			vo.Model = modelFor(cfg)
		}
		if vo.MaxFalseHitRate == 0 {
			vo.MaxFalseHitRate = cfg.MaxFalseHitRate
		}
		v, err := verify.New(vo)
		if err != nil {
			errs = append(errs, fmt.Errorf("simtier: %w", err))
		} else {
			vf = Judge{v}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return cache.SemanticOptions{}, err
	}
	return cache.SemanticOptions{
		Embedder:      cfg.Embedder,
		Index:         cfg.Index,
		Verify:        vf,
		Threshold:     threshold,
		Thresholds:    cfg.Thresholds,
		Shadow:        cfg.Shadow,
		ShadowAll:     cfg.ShadowAll,
		TopK:          cfg.TopK,
		EmbedTimeout:  cfg.EmbedTimeout,
		SearchTimeout: cfg.SearchTimeout,
	}, nil
}

// modelFor is the verifier model of cfg: the configured one, else the
// shipped model of the embedder.
func modelFor(cfg Config) *verify.Model {
	switch {
	case cfg.Verifier.Model != nil:
		return cfg.Verifier.Model
	case cfg.Kind == "use":
		return verify.USEModel
	case cfg.Kind == "lexical":
		return verify.LexicalModel
	}
	return verify.ModelFor(cfg.Embedder.ModelID())
}

// Judge adapts a verifier to the cache's judge: all candidates of a lookup
// are checked in one call (one batch of deletion-test embeddings).
type Judge struct{ V *verify.Verifier }

var (
	_ cache.Judge         = Judge{}
	_ cache.ScoreCutoffer = Judge{}
)

// ScoreCutoff is the verifier's lower cut-off (of requests and
// descriptions): a request's X-Semcache-Threshold below it raises
// nothing.
func (j Judge) ScoreCutoff() float32 {
	c := j.V.Cutoff()
	return min(c.Request, c.Description)
}

// Judge checks cands against query: their prompts, and in context mode
// their contexts (the earlier user turns), each with the verifier. A
// candidate is accepted when both are; its score is the lower of the two.
// Contexts whose earlier assistant turns are the very same text (their
// fingerprints are equal, and long enough) continue the same exchange: the
// second conversation's opening was answered with the first one's answer,
// in practice served from this cache, which judged the openings alike
// then; only the prompts are checked. Conversations whose earlier answers
// (or tool calls and results) differ are never matched: a follow-up may
// refer to what was answered.
func (j Judge) Judge(ctx context.Context, query cache.Text, cands []cache.Candidate) []cache.Judgement {
	vc := make([]verify.Candidate, len(cands))
	var withCtx []int
	var cc []verify.Candidate
	for i, c := range cands {
		vc[i] = verify.Candidate{Text: c.Prompt, Similarity: c.Similarity, RulesOnly: c.RulesOnly, MinScore: c.MinScore}
		if query.Context != "" && c.Context != "" && !answersVouch(query, c.Text) {
			withCtx = append(withCtx, i)
			// The contexts' own similarity is unknown here; the
			// candidates' similarity (of context and prompt together) is
			// its nearest stand-in.
			cc = append(cc, verify.Candidate{Text: c.Context, Similarity: c.Similarity, MinScore: c.MinScore})
		}
	}
	verdicts := j.V.CheckAll(ctx, query.Prompt, vc)
	out := make([]cache.Judgement, len(verdicts))
	for i, v := range verdicts {
		out[i] = judgement(v)
		if out[i].OK && ((query.Context == "") != (cands[i].Context == "") || answersDiffer(query, cands[i].Text)) {
			out[i] = cache.Judgement{Reason: ReasonContext, Rule: true}
		}
	}
	if len(cc) > 0 {
		for k, v := range j.V.CheckAll(ctx, query.Context, cc) {
			i := withCtx[k]
			if !out[i].OK {
				continue
			}
			if !v.OK {
				out[i] = cache.Judgement{Reason: ReasonContext, Score: v.Score, Rule: true}
				continue
			}
			out[i].Score = min(out[i].Score, v.Score)
		}
	}
	return out
}

// answersVouch reports whether two conversations' earlier answers are the
// same and long enough to vouch for their contexts.
func answersVouch(a, b cache.Text) bool {
	return a.ContextAnswers == b.ContextAnswers && cache.ContextAnswersVouch(a.ContextAnswers)
}

// answersDiffer reports whether both conversations have earlier answers
// (or tool calls and results) and they differ: a follow-up may refer to
// them ("double it", "the second one"), so it is another question.
func answersDiffer(a, b cache.Text) bool {
	return a.ContextAnswers != "" && b.ContextAnswers != "" && a.ContextAnswers != b.ContextAnswers
}

// ReasonContext is the rejection of a candidate whose conversation differs
// from the query's.
const ReasonContext = "context"

func judgement(v verify.Verdict) cache.Judgement {
	j := cache.Judgement{OK: v.OK, Reason: string(v.Reason), Score: v.Score, Kind: "description",
		Rule: !v.OK && v.Reason != verify.ReasonScore && v.Reason != verify.ReasonOutranked}
	if v.Request {
		j.Kind = "request"
	}
	return j
}

// Reasons lists the verifier's rejection reasons as strings, in rule order
// (metrics pre-register them).
func Reasons() []string {
	reasons := make([]string, 0, len(verify.Reasons())+1)
	for _, r := range verify.Reasons() {
		reasons = append(reasons, string(r))
	}
	return append(reasons, ReasonContext)
}
