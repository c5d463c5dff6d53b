package cache

import (
	"encoding/json"
	"fmt"
	"time"
)

// Usage is the token usage an upstream reported for an answer.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// Answer is what the cache keeps of an upstream reply: enough to replay it
// as JSON or SSE.
type Answer struct {
	Model             string `json:"model"`
	Role              string `json:"role"`
	Content           string `json:"content"`
	Refusal           string `json:"refusal,omitempty"`
	FinishReason      string `json:"finish_reason"`
	SystemFingerprint string `json:"system_fingerprint,omitempty"`
	Usage             *Usage `json:"usage,omitempty"`
}

// Entry is one cached answer with its bookkeeping.
type Entry struct {
	// ID is the entry id served in X-Semcache-Entry (Key.EntryID()).
	ID string `json:"id"`
	// Key is the exact-tier key in hex.
	Key       string `json:"key"`
	Namespace string `json:"namespace"`
	// Partition is the similarity tier's context partition ("" when the
	// request could not use the similarity tier).
	Partition string `json:"partition,omitempty"`
	// Prompt is the text the verifier compares; Context the earlier user
	// turns it compares too (context mode). The similarity tier embeds
	// EmbedText(Prompt, Context).
	Prompt  string `json:"prompt,omitempty"`
	Context string `json:"context,omitempty"`
	// RequestModel is the model the client asked for.
	RequestModel string    `json:"request_model"`
	Answer       Answer    `json:"answer"`
	CreatedAt    time.Time `json:"created_at"`
	ExpiresAt    time.Time `json:"expires_at,omitzero"`
	// Sources are the RAG chunk ids injected into the prompt that produced
	// the answer (purged when those chunks change).
	Sources []string `json:"sources,omitempty"`
	// AliasOf is set on an alias record of the similarity tier: the key of
	// the entry whose answer a served semantic hit for Prompt came from.
	// The record's other fields are that entry's.
	AliasOf string `json:"alias_of,omitempty"`
}

// aliasTarget returns the entry an alias record stands for: a copy with
// the alias fields cleared. Its Prompt is the alias's wording, which is
// what the verifier compared; callers serve its answer.
func (e *Entry) aliasTarget() *Entry {
	t := *e
	t.AliasOf = ""
	return &t
}

// Expired reports whether e has expired at now.
func (e *Entry) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// Size approximates the bytes e holds in memory (the exact tier's cost).
func (e *Entry) Size() int64 {
	n := 200 + len(e.ID) + len(e.Key) + len(e.Namespace) + len(e.Partition) + len(e.Prompt) + len(e.Context) +
		len(e.RequestModel) + len(e.Answer.Model) + len(e.Answer.Content) + len(e.Answer.Refusal) +
		len(e.Answer.SystemFingerprint)
	for _, s := range e.Sources {
		n += len(s) + 16
	}
	return int64(n)
}

// MarshalEntry encodes e for disk and vector-store payloads.
func MarshalEntry(e *Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("cache: encode entry: %w", err)
	}
	return b, nil
}

// UnmarshalEntry decodes what MarshalEntry wrote.
func UnmarshalEntry(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("cache: decode entry: %w", err)
	}
	if e.Key == "" || e.Namespace == "" {
		return nil, fmt.Errorf("cache: decode entry: missing key or namespace")
	}
	return &e, nil
}
