package chat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
	"github.com/semcache/semcache/wire/sse"
)

func notCacheable(format string, args ...any) error { return wire.NotCacheable(format, args...) }

// Payload is the chat part of a stored answer: what the renderers need
// beyond model and usage. Its field names are those of the answers semcache
// stored before it served other endpoints, so those entries decode as
// payloads unchanged (see cache.Answer).
type Payload struct {
	Role              string `json:"role"`
	Content           string `json:"content"`
	Refusal           string `json:"refusal,omitempty"`
	FinishReason      string `json:"finish_reason"`
	SystemFingerprint string `json:"system_fingerprint,omitempty"`
}

// Answer is a complete chat answer.
type Answer struct {
	Model string
	Usage *cache.Usage
	// Chunks are the boundaries the content was streamed in (nil for a
	// JSON answer).
	Chunks cache.Chunks
	Payload
}

// Cache returns a as an endpoint-neutral cache answer.
func (a *Answer) Cache() cache.Answer {
	p, _ := json.Marshal(a.Payload) // cannot fail: plain strings
	return cache.Answer{Endpoint: Name, Model: a.Model, Usage: a.Usage, Text: a.Content, Payload: p, Chunks: a.Chunks}
}

// FromCache decodes a stored chat answer.
func FromCache(ca *cache.Answer) (Answer, error) {
	a := Answer{Model: ca.Model, Usage: ca.Usage, Chunks: ca.Chunks}
	if ca.Endpoint != Name {
		return a, fmt.Errorf("chat: answer of endpoint %q", ca.Endpoint)
	}
	if err := json.Unmarshal(ca.Payload, &a.Payload); err != nil {
		return a, fmt.Errorf("chat: decode stored answer: %w", err)
	}
	if a.Role == "" {
		a.Role = "assistant"
	}
	return a, nil
}

// Assembler observes an upstream chat-completion body, JSON or SSE, as it
// passes through, and assembles it into one Answer. Only complete,
// successful, single-choice text answers with finish_reason "stop" are
// cacheable: errors, partial streams, length cuts, content filters and tool
// calls never are.
//
// Write never fails, so an Assembler can sit in an io.MultiWriter beside
// the client.
type Assembler struct {
	stream bool
	// MaxBytes bounds what a non-stream body may hold (default 8 MiB).
	MaxBytes int

	parser  sse.Parser
	body    bytes.Buffer
	content strings.Builder
	chunks  cache.Chunks
	refusal strings.Builder
	ans     Answer
	sawDone bool
	finish  string
	bad     error
	size    int
	started bool // a chunk carried content, a refusal or a tool call
}

var _ wire.ContentStarter = (*Assembler)(nil)

// ContentStarted reports whether a streamed chunk has carried content, a
// refusal or a tool call (the first token).
func (a *Assembler) ContentStarted() bool { return a.started }

// NewAssembler returns an assembler for a streamed (SSE) or JSON body.
func NewAssembler(stream bool) *Assembler {
	return &Assembler{stream: stream}
}

// Write feeds upstream body bytes.
func (a *Assembler) Write(p []byte) (int, error) {
	if a.bad != nil {
		return len(p), nil
	}
	maxBytes := a.MaxBytes
	if maxBytes <= 0 {
		maxBytes = wire.MaxAnswerBytes
	}
	a.size += len(p)
	if a.size > maxBytes {
		a.fail(notCacheable("answer larger than %d bytes", maxBytes))
		a.body.Reset()
		return len(p), nil
	}
	if !a.stream {
		a.body.Write(p)
		return len(p), nil
	}
	_ = a.parser.Feed(p, a.event)
	return len(p), nil
}

func (a *Assembler) fail(err error) {
	if a.bad == nil {
		a.bad = err
	}
}

type streamChunk struct {
	ID                  string          `json:"id"`
	Model               string          `json:"model"`
	SystemFingerprint   string          `json:"system_fingerprint"`
	Choices             []streamChoice  `json:"choices"`
	Usage               *cache.Usage    `json:"usage"`
	Error               json.RawMessage `json:"error"`
	PromptFilterResults json.RawMessage `json:"prompt_filter_results"`
}

type streamChoice struct {
	Index int `json:"index"`
	Delta struct {
		Role         string          `json:"role"`
		Content      *string         `json:"content"`
		Refusal      *string         `json:"refusal"`
		ToolCalls    json.RawMessage `json:"tool_calls"`
		FunctionCall json.RawMessage `json:"function_call"`
	} `json:"delta"`
	FinishReason         *string         `json:"finish_reason"`
	ContentFilterResults json.RawMessage `json:"content_filter_results"`
}

func (a *Assembler) event(ev sse.Event) error {
	if a.bad != nil {
		return nil
	}
	data := bytes.TrimSpace(ev.Data)
	if bytes.Equal(data, []byte("[DONE]")) {
		a.sawDone = true
		return nil
	}
	if a.sawDone {
		a.fail(notCacheable("data after [DONE]"))
		return nil
	}
	if ev.Event == "error" {
		a.fail(notCacheable("upstream error event"))
		return nil
	}
	var c streamChunk
	if err := decodeUpstream(data, &c); err != nil {
		a.fail(notCacheable("malformed stream chunk"))
		return nil
	}
	if len(c.Error) > 0 && !canon.IsNull(c.Error) {
		a.fail(notCacheable("upstream error mid-stream"))
		return nil
	}
	if wire.Filtered(c.PromptFilterResults) {
		a.fail(notCacheable("content filtered"))
		return nil
	}
	if c.Model != "" {
		a.ans.Model = c.Model
	}
	if c.SystemFingerprint != "" {
		a.ans.SystemFingerprint = c.SystemFingerprint
	}
	if c.Usage != nil {
		u := *c.Usage
		a.ans.Usage = &u
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			a.fail(notCacheable("more than one choice"))
			return nil
		}
		if ch.Delta.Content != nil && *ch.Delta.Content != "" || ch.Delta.Refusal != nil && *ch.Delta.Refusal != "" {
			a.started = true
		}
		if len(ch.Delta.ToolCalls) > 0 && !canon.IsNull(ch.Delta.ToolCalls) ||
			len(ch.Delta.FunctionCall) > 0 && !canon.IsNull(ch.Delta.FunctionCall) {
			a.started = true
			a.fail(notCacheable("tool call answer"))
			return nil
		}
		if wire.Filtered(ch.ContentFilterResults) {
			a.fail(notCacheable("content filtered"))
			return nil
		}
		if ch.Delta.Refusal != nil && *ch.Delta.Refusal != "" {
			a.fail(notCacheable("refusal"))
			return nil
		}
		if ch.Delta.Role != "" {
			a.ans.Role = ch.Delta.Role
		}
		if ch.Delta.Content != nil {
			a.content.WriteString(*ch.Delta.Content)
			a.chunks = a.chunks.Append(len(*ch.Delta.Content))
		}
		if ch.Delta.Refusal != nil {
			a.refusal.WriteString(*ch.Delta.Refusal)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.finish = *ch.FinishReason
		}
	}
	return nil
}

// decodeUpstream decodes an upstream answer (a completion body or a stream
// chunk) into one of the structs above, with encoding/json's semantics
// (case-insensitive names, the last of duplicate names wins, invalid UTF-8
// replaced) but the go-json-experiment engine: every miss decodes its
// answer on the request path, and this is about twice as fast with a
// third of the allocations (the module is the Go team's encoding/json/v2
// prototype; its v1 package is the v1 API on the v2 engine, the code
// behind GOEXPERIMENT=jsonv2). FuzzDecodeUpstream checks it decodes as
// encoding/json does.
func decodeUpstream(data []byte, v any) error { return jsonv1.Unmarshal(data, v) }

type completionBody struct {
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index   int `json:"index"`
		Message struct {
			Role         string          `json:"role"`
			Content      *string         `json:"content"`
			Refusal      *string         `json:"refusal"`
			ToolCalls    json.RawMessage `json:"tool_calls"`
			FunctionCall json.RawMessage `json:"function_call"`
		} `json:"message"`
		FinishReason         string          `json:"finish_reason"`
		ContentFilterResults json.RawMessage `json:"content_filter_results"`
	} `json:"choices"`
	Usage               *cache.Usage    `json:"usage"`
	Error               json.RawMessage `json:"error"`
	PromptFilterResults json.RawMessage `json:"prompt_filter_results"`
}

// Complete reports whether a stream's "data: [DONE]" has been seen.
func (a *Assembler) Complete() bool { return a.sawDone }

// Answers is Result as the engine wants it: one cache answer.
func (a *Assembler) Answers(clean bool) ([]cache.Answer, error) {
	ans, err := a.Result(clean)
	if err != nil {
		return nil, err
	}
	return []cache.Answer{ans.Cache()}, nil
}

var _ wire.Assembler = (*Assembler)(nil)

// Result returns the assembled answer, or an error wrapping ErrNotCacheable.
// cleanEOF tells whether the upstream body ended without a transport error;
// a stream that ended cleanly after its finish chunk is complete even
// without "data: [DONE]".
func (a *Assembler) Result(cleanEOF bool) (Answer, error) {
	if a.bad != nil {
		return Answer{}, a.bad
	}
	if !a.stream {
		return a.resultJSON(cleanEOF)
	}
	if a.parser.Overflow {
		return Answer{}, notCacheable("oversized stream line")
	}
	if !a.sawDone && !(cleanEOF && a.finish != "" && !a.parser.Pending()) {
		return Answer{}, notCacheable("stream incomplete")
	}
	if a.finish != "stop" {
		if a.finish == "" {
			return Answer{}, notCacheable("stream ended without finish_reason")
		}
		return Answer{}, notCacheable("finish_reason %q", a.finish)
	}
	ans := a.ans
	if ans.Role == "" {
		ans.Role = "assistant"
	}
	ans.Content = a.content.String()
	ans.Chunks = a.chunks
	ans.Refusal = a.refusal.String()
	ans.FinishReason = a.finish
	if err := storable(&ans); err != nil {
		return Answer{}, err
	}
	return ans, nil
}

func (a *Assembler) resultJSON(cleanEOF bool) (Answer, error) {
	if !cleanEOF {
		return Answer{}, notCacheable("body incomplete")
	}
	var c completionBody
	if err := decodeUpstream(a.body.Bytes(), &c); err != nil {
		return Answer{}, notCacheable("malformed completion body")
	}
	if len(c.Error) > 0 && !canon.IsNull(c.Error) {
		return Answer{}, notCacheable("upstream error body")
	}
	if len(c.Choices) != 1 || c.Choices[0].Index != 0 {
		return Answer{}, notCacheable("expected exactly one choice, got %d", len(c.Choices))
	}
	ch := c.Choices[0]
	m := ch.Message
	if len(m.ToolCalls) > 0 && !canon.IsNull(m.ToolCalls) || len(m.FunctionCall) > 0 && !canon.IsNull(m.FunctionCall) {
		return Answer{}, notCacheable("tool call answer")
	}
	if ch.FinishReason != "stop" {
		return Answer{}, notCacheable("finish_reason %q", ch.FinishReason)
	}
	if m.Content == nil && m.Refusal == nil {
		return Answer{}, notCacheable("answer has no content")
	}
	if wire.Filtered(ch.ContentFilterResults) || wire.Filtered(c.PromptFilterResults) {
		return Answer{}, notCacheable("content filtered")
	}
	ans := Answer{Model: c.Model, Usage: c.Usage,
		Payload: Payload{Role: m.Role, FinishReason: ch.FinishReason, SystemFingerprint: c.SystemFingerprint}}
	if ans.Role == "" {
		ans.Role = "assistant"
	}
	if m.Content != nil {
		ans.Content = *m.Content
	}
	if m.Refusal != nil {
		ans.Refusal = *m.Refusal
	}
	if err := storable(&ans); err != nil {
		return Answer{}, err
	}
	return ans, nil
}

// storable refuses what is never worth replaying: a refusal (the model
// declined; a retry or another wording may not) and an empty answer.
func storable(a *Answer) error {
	switch {
	case a.Refusal != "":
		return notCacheable("refusal")
	case strings.TrimSpace(a.Content) == "":
		return notCacheable("empty answer")
	}
	return nil
}
