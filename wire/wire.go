// Package wire holds what every API wire format shares. Each API semcache
// caches has its own package below it (wire/chat, wire/responses,
// wire/embeddings, wire/completions) that parses and canonicalises its
// requests, assembles upstream answers (JSON or SSE) into endpoint-neutral
// cache answers, decides what may be stored, and renders stored answers
// back as JSON or SSE with fresh ids (RenderOptions: the usage and the
// marker a hit reports; Pieces: the chunks a replayed stream comes in).
// wire/sse is the shared event-stream
// parser and wire/canon the canonical JSON the keys are built from.
//
// This package defines the two verdicts those packages return: a request
// error (the fronts turn it into an OpenAI-style 400 naming the parameter)
// and ErrNotCacheable (an answer that must not be stored, with the reason).
package wire

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/semcache/semcache/cache"
)

// ErrBadRequest is wrapped by every *RequestError.
var ErrBadRequest = errors.New("wire: bad request")

// RequestError describes a malformed request. The fronts turn it into an
// OpenAI-style 400 error naming Param.
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return "wire: bad request: " + e.Message
	}
	return "wire: bad request: " + e.Param + ": " + e.Message
}

// Unwrap lets errors.Is(err, ErrBadRequest) match.
func (e *RequestError) Unwrap() error { return ErrBadRequest }

// BadRequest returns a *RequestError for param.
func BadRequest(param, format string, args ...any) error {
	return &RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// ErrNotCacheable is wrapped by an assembler's verdict on an answer that
// must not be stored; the message says why.
var ErrNotCacheable = errors.New("wire: answer not cacheable")

// NotCacheable returns an error wrapping ErrNotCacheable.
func NotCacheable(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrNotCacheable, fmt.Sprintf(format, args...))
}

// MaxAnswerBytes is the default bound on the upstream answer an assembler
// keeps; a larger answer is passed through and not stored.
const MaxAnswerBytes = 8 << 20

// PromptMode chooses what the similarity tier embeds for conversational
// endpoints (chat, responses).
type PromptMode string

const (
	// PromptLastMessage embeds the last user message; everything before it
	// (system prompt, earlier turns) goes into the context partition, so a
	// follow-up only matches inside the same conversation prefix.
	PromptLastMessage PromptMode = "last"
	// PromptConversation embeds every user and assistant turn; only the
	// system/developer messages and parameters form the partition.
	PromptConversation PromptMode = "conversation"
	// PromptContext compares the last user message, and the earlier user
	// turns as its context, each with the verifier: "what does it stand
	// for" after "What is the importance of DNA?" matches the same
	// follow-up after "What is the significance of DNA?", never after
	// another opening. The embedded text is both; only system/developer
	// messages and parameters form the partition.
	PromptContext PromptMode = "context"

	// DefaultPromptMode is the mode when none is configured.
	DefaultPromptMode = PromptContext
)

// Valid reports whether m is one of the prompt modes.
func (m PromptMode) Valid() bool {
	return m == PromptContext || m == PromptLastMessage || m == PromptConversation
}

// NewID returns prefix followed by 24 random URL-safe characters: every
// served response gets its own ids, hits included.
func NewID(prefix string) string {
	var b [18]byte
	_, _ = rand.Read(b[:])
	return prefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Assembler observes an upstream answer, JSON or SSE, as it passes through
// and assembles it into endpoint-neutral cache answers. Write never fails,
// so an Assembler can sit beside the client in an io.MultiWriter.
type Assembler interface {
	io.Writer
	// Complete reports whether the answer's final event has been seen, so
	// it may be stored before the rest of the stream reaches the client.
	Complete() bool
	// Answers returns one answer per requested item, in order, or an
	// error wrapping ErrNotCacheable. clean tells whether the body ended
	// without a transport error.
	Answers(clean bool) ([]cache.Answer, error)
}

// Filtered reports whether a content-filter annotation (Azure OpenAI's
// content_filter_results or prompt_filter_results, and the like) marks
// anything as filtered: an object anywhere inside raw with "filtered":
// true. Such answers are never stored. Absent or malformed raw is not
// filtered.
func Filtered(raw []byte) bool {
	if len(raw) == 0 {
		return false
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false
	}
	return filtered(v)
}

func filtered(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		if b, ok := x["filtered"].(bool); ok && b {
			return true
		}
		for _, y := range x {
			if filtered(y) {
				return true
			}
		}
	case []any:
		for _, y := range x {
			if filtered(y) {
				return true
			}
		}
	}
	return false
}
