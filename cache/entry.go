package cache

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// Usage is the token usage an upstream reported for an answer, whatever
// the endpoint: prompt (input) and completion (output) tokens.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// LegacyEndpoint is the endpoint of answers stored before semcache served
// more than one API: chat completions.
const LegacyEndpoint = "chat"

// Answer is what the cache keeps of an upstream reply, whatever the
// endpoint: the cache reads only Model, Usage and Text; Payload is owned
// and decoded by the endpoint's wire package (see wire/), which renders it
// back as JSON or SSE.
type Answer struct {
	// Endpoint names the API the answer belongs to ("chat", "responses",
	// "embeddings", …).
	Endpoint string `json:"endpoint"`
	// Model is the model the upstream reported.
	Model string `json:"model"`
	Usage *Usage `json:"usage,omitempty"`
	// Text is a plain-text rendition of the answer: what the admin API
	// searches and shows, and what shadow mode compares.
	Text string `json:"text"`
	// Payload is the endpoint's encoding of everything it needs to replay
	// the answer.
	Payload json.RawMessage `json:"payload,omitempty"`
	// Chunks are the boundaries Text was streamed in (nil: unknown).
	Chunks Chunks `json:"chunks,omitempty"`

	// memo keeps the endpoint's decoded payload of a stored answer (see
	// Decoded); copies of the answer share it.
	memo *memo
}

type memo struct {
	once sync.Once
	v    any
	err  error
}

// Decoded returns what decode makes of the answer's payload. For an
// answer the cache holds, decode runs once and its result is kept with
// the entry (a hit then only renders); elsewhere it runs every time.
// decode must depend on the payload only.
func (a *Answer) Decoded(decode func() (any, error)) (any, error) {
	m := a.memo
	if m == nil {
		return decode()
	}
	m.once.Do(func() { m.v, m.err = decode() })
	return m.v, m.err
}

// remember gives a stored answer its memo.
func (a *Answer) remember() { a.memo = &memo{} }

// UnmarshalJSON reads both layouts: the endpoint-neutral one, and the
// chat answer {model, role, content, finish_reason, …} semcache stored
// before it served other endpoints. A legacy answer becomes a chat answer
// whose payload is the old object itself (wire/chat reads it as such) and
// whose text is its content, so entries written by older versions stay
// reachable and are served unchanged after an upgrade.
func (a *Answer) UnmarshalJSON(b []byte) error {
	type neutral Answer
	var v struct {
		neutral
		Content *string `json:"content"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*a = Answer(v.neutral)
	if a.Endpoint == "" && a.Payload == nil {
		a.Endpoint = LegacyEndpoint
		a.Payload = append(json.RawMessage(nil), b...)
		if v.Content != nil {
			a.Text = *v.Content
		}
	}
	return nil
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
	// ContextAnswers fingerprints the earlier assistant turns
	// (Lookup.ContextAnswers).
	ContextAnswers string `json:"context_answers,omitempty"`
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
	// Variants are more answers to the same request, stored by the misses
	// that followed the first while the namespace keeps several answers
	// per key (see PutVariant); hits take turns among Answer and these.
	Variants []Answer `json:"variants,omitempty"`

	// turn counts the hits served from this entry, shared by its copies
	// (round-robin among the variants); nil on an entry not from the
	// cache.
	turn *atomic.Uint64
}

// Answers counts the entry's stored answers: Answer and its variants.
func (e *Entry) Answers() int { return 1 + len(e.Variants) }

// Pick returns the answer the next hit serves and its index (0: Answer,
// i: Variants[i-1]): the entry's answers in turn, the first n of them
// when n is positive and below their number.
func (e *Entry) Pick(n int) (*Answer, int) {
	total := e.Answers()
	if n <= 0 || n > total {
		n = total
	}
	if n == 1 || e.turn == nil {
		return &e.Answer, 0
	}
	i := int((e.turn.Add(1) - 1) % uint64(n))
	if i == 0 {
		return &e.Answer, 0
	}
	return &e.Variants[i-1], i
}

// remember gives an entry from the cache its memos and its turn counter.
func (e *Entry) remember() {
	e.Answer.remember()
	for i := range e.Variants {
		e.Variants[i].remember()
	}
	e.turn = &atomic.Uint64{}
}

// aliasTarget returns the entry an alias record stands for: a copy with
// the alias fields cleared. Its Prompt is the alias's wording, which is
// what the verifier compared; callers serve its answer.
func (e *Entry) aliasTarget() *Entry {
	t := *e
	t.AliasOf = ""
	return &t
}

// text is what a judge compares of e.
func (e *Entry) text() Text {
	return Text{Prompt: e.Prompt, Context: e.Context, ContextAnswers: e.ContextAnswers}
}

// Expired reports whether e has expired at now.
func (e *Entry) Expired(now time.Time) bool {
	return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
}

// Size approximates the bytes e holds in memory (the exact tier's cost).
func (e *Entry) Size() int64 {
	n := 200 + len(e.ID) + len(e.Key) + len(e.Namespace) + len(e.Partition) + len(e.Prompt) + len(e.Context) + len(e.ContextAnswers) +
		len(e.RequestModel)
	n += answerSize(&e.Answer)
	for i := range e.Variants {
		n += 64 + answerSize(&e.Variants[i])
	}
	for _, s := range e.Sources {
		n += len(s) + 16
	}
	return int64(n)
}

func answerSize(a *Answer) int {
	return len(a.Endpoint) + len(a.Model) + len(a.Text) + len(a.Payload) + len(a.Chunks)
}

// MarshalEntry encodes e for disk and vector-store payloads.
func MarshalEntry(e *Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("cache: encode entry: %w", err)
	}
	return b, nil
}

// UnmarshalEntry decodes what MarshalEntry wrote, in either answer layout
// (see Answer.UnmarshalJSON).
func UnmarshalEntry(b []byte) (*Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("cache: decode entry: %w", err)
	}
	if e.Key == "" || e.Namespace == "" {
		return nil, fmt.Errorf("cache: decode entry: missing key or namespace")
	}
	e.remember()
	return &e, nil
}
