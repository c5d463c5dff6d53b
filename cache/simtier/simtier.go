// Package simtier assembles the similarity tier's options (verifier,
// thresholds, candidate count, time limits) into cache.SemanticOptions. It
// is the one place that wiring lives, so the service (cmd/semcache) and its
// evaluation (semcache-bench eval) run exactly the same decision: a change
// to how a semantic hit is decided is made here, or in what this package
// calls, and both pick it up.
package simtier

import (
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
	// Verifier configures the verifier (zero value: its defaults).
	Verifier verify.Options
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
	if threshold <= 0 {
		t, ok := DefaultThreshold(cfg.Kind)
		if !ok {
			errs = append(errs, fmt.Errorf("simtier: no default threshold for embedder kind %q; set one", cfg.Kind))
		}
		threshold = t
	}
	var vf cache.VerifyFunc
	if !cfg.NoVerifier {
		v, err := verify.New(cfg.Verifier)
		if err != nil {
			errs = append(errs, fmt.Errorf("simtier: %w", err))
		} else {
			vf = VerifyFunc(v)
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

// VerifyFunc adapts a verifier to the cache's hook: "" accepts, otherwise
// the reason of the rejection.
func VerifyFunc(v *verify.Verifier) cache.VerifyFunc {
	return func(q, c string, score float32) string {
		if verdict := v.Check(q, c, score); !verdict.OK {
			return string(verdict.Reason)
		}
		return ""
	}
}

// Reasons lists the verifier's rejection reasons as strings, in rule order
// (metrics pre-register them).
func Reasons() []string {
	reasons := make([]string, 0, len(verify.Reasons()))
	for _, r := range verify.Reasons() {
		reasons = append(reasons, string(r))
	}
	return reasons
}
