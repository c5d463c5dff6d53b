package engine

import (
	"time"

	"github.com/semcache/semcache/cache"
)

// Observer is told about each finished call, on the request path: it must
// be quick. The admin dashboard's Tracker is one.
type Observer interface {
	ObserveCall(s *Summary)
}

// Summary is what an Observer learns about a finished call.
type Summary struct {
	Front, Route, Namespace, RequestID string
	// Outcome is one of the Outcome* constants.
	Outcome string
	// Reason says why a call missed: no_cache (the client asked), rejected
	// (the verifier refused the nearest candidate), degraded (the
	// similarity tier failed), shadow (a shadow-mode would-be hit), or new;
	// for a bypass, why it is never cached.
	Reason string
	// Model is the model asked for; Prompt a short text of the request.
	Model, Prompt string
	// Entry is the entry a single-answer hit served, and Answer the answer
	// of it that was served (one of its variants; nil when not known).
	Entry  *cache.Entry
	Answer *cache.Answer
	// Similarity is the score of a served semantic hit, of a shadow hit,
	// or of the best candidate the verifier refused.
	Similarity float32
	// RejectedFor is the verifier's reason for refusing that candidate.
	RejectedFor string
	// Items and Hits count the items of a batch request and those served
	// from the cache (1 and 0 or 1 for single-answer APIs).
	Items, Hits int
	Elapsed     time.Duration
}
