package cache

import (
	"context"
	"errors"
	"fmt"
	"unicode/utf8"
)

// Bounds of the similarity tier's work on one request (SemanticOptions
// MaxEmbedBytes and MaxSemanticBytes; the flags of semcache serve refer to
// them).
const (
	// DefaultMaxEmbedBytes bounds the text the tier embeds: a longer
	// prompt (with its context) is embedded as its first three quarters of
	// this many bytes and its last quarter, joined by " … ". The verifier
	// still sees the whole prompt, so two long prompts that differ only in
	// the middle are found as candidates and then judged on their full
	// text.
	DefaultMaxEmbedBytes = 8 << 10
	// DefaultMaxSemanticBytes bounds the prompt plus context the tier
	// handles at all: above it a request uses the exact tier only (its
	// Result.Skipped says SkipTooLong), and its answer is not indexed for
	// similarity either. The verifier's work grows with the text (about
	// 2 ms per KiB with the lexical embedder's rules on a 2-core machine:
	// 32 ms at this bound), and a paraphrase of a pasted document is not
	// what the tier is for.
	DefaultMaxSemanticBytes = 16 << 10
)

// SkipTooLong is Result.Skipped for a prompt above MaxSemanticBytes.
const SkipTooLong = "too_long"

// ErrEmbedDeadline is wrapped by Result.EmbedErr when the embedder did not
// answer within the lookup's embedding time limit.
var ErrEmbedDeadline = errors.New("cache: embedder exceeded its time limit")

// displayPromptBytes bounds the prompt kept in an entry whose prompt is
// too long for the similarity tier (shown by the admin API).
const displayPromptBytes = 1 << 10

// tooLong reports whether a prompt and its context are beyond the tier's
// bound (DefaultMaxSemanticBytes without a similarity tier).
func tooLong(sem *SemanticOptions, prompt, context string) bool {
	limit := DefaultMaxSemanticBytes
	if sem != nil && sem.MaxSemanticBytes > 0 {
		limit = sem.MaxSemanticBytes
	}
	return len(prompt)+len(context) > limit
}

// embedText is the text the tier embeds for a prompt and its context:
// EmbedText, cut to MaxEmbedBytes (head and tail). Lookups, write-back,
// warming and aliases all use it, so their vectors stay comparable.
func embedText(sem *SemanticOptions, prompt, context string) string {
	return capText(EmbedText(prompt, context), sem.MaxEmbedBytes)
}

// capText keeps s when it has at most max bytes; otherwise its first
// three quarters of max and its last quarter, cut on rune boundaries and
// joined by " … ".
func capText(s string, max int) string {
	if max <= 0 || len(s) <= max {
		return s
	}
	head, tail := max*3/4, max/4
	h := s[:head]
	for len(h) > 0 && !utf8.RuneStart(s[len(h)]) {
		h = h[:len(h)-1]
	}
	start := len(s) - tail
	for start < len(s) && !utf8.RuneStart(s[start]) {
		start++
	}
	return h + " … " + s[start:]
}

// embedOne embeds one text within ctx's deadline. The embedder runs in
// its own goroutine: an in-process embedder that does not watch its
// context (a CPU-bound model) still cannot hold the request past the
// deadline. Its late result is dropped; the work it still does is bounded
// by MaxEmbedBytes.
func (c *Cache) embedOne(ctx context.Context, sem *SemanticOptions, text string) ([]float32, error) {
	type result struct {
		vecs [][]float32
		err  error
	}
	done := make(chan result, 1)
	go func() {
		vecs, err := sem.Embedder.Embed(ctx, []string{text})
		done <- result{vecs, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return nil, r.err
		}
		if len(r.vecs) != 1 {
			return nil, fmt.Errorf("cache: embedder returned %d vectors for 1 text", len(r.vecs))
		}
		return r.vecs[0], nil
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: %w", ErrEmbedDeadline, ctx.Err())
	}
}
