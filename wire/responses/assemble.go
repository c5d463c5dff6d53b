package responses

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
	"github.com/semcache/semcache/wire/sse"
)

func notCacheable(format string, args ...any) error { return wire.NotCacheable(format, args...) }

// responseObject is the part of a response object the cache judges.
type responseObject struct {
	ID                string          `json:"id"`
	Status            string          `json:"status"`
	Model             string          `json:"model"`
	Error             json.RawMessage `json:"error"`
	IncompleteDetails json.RawMessage `json:"incomplete_details"`
	Output            []struct {
		Type    string `json:"type"`
		Role    string `json:"role"`
		Content []struct {
			Type        string            `json:"type"`
			Text        *string           `json:"text"`
			Annotations []json.RawMessage `json:"annotations"`
		} `json:"content"`
	} `json:"output"`
	Usage *struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

// judge decides whether a final response object may be stored and returns
// it as a cache answer: only a completed response whose output is one
// assistant message of plain output_text parts (no tool or function
// calls, no reasoning items, no annotations, no error, nothing cut).
func judge(raw []byte) (cache.Answer, error) {
	var o responseObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return cache.Answer{}, notCacheable("malformed response object")
	}
	switch {
	case canon.Present(o.Error):
		return cache.Answer{}, notCacheable("upstream error in the response")
	case canon.Present(o.IncompleteDetails):
		return cache.Answer{}, notCacheable("response incomplete")
	case o.Status != "completed":
		return cache.Answer{}, notCacheable("response status %q", o.Status)
	case len(o.Output) != 1:
		return cache.Answer{}, notCacheable("expected one output item, got %d", len(o.Output))
	case o.Output[0].Type != "message" || o.Output[0].Role != "assistant":
		return cache.Answer{}, notCacheable("output item of type %q", o.Output[0].Type)
	case len(o.Output[0].Content) == 0:
		return cache.Answer{}, notCacheable("message without content")
	}
	var text strings.Builder
	for _, c := range o.Output[0].Content {
		if c.Type != "output_text" || c.Text == nil {
			return cache.Answer{}, notCacheable("content part of type %q", c.Type)
		}
		if len(c.Annotations) > 0 {
			return cache.Answer{}, notCacheable("annotated text")
		}
		text.WriteString(*c.Text)
	}
	if strings.TrimSpace(text.String()) == "" {
		return cache.Answer{}, notCacheable("empty answer")
	}
	a := cache.Answer{Endpoint: Name, Model: o.Model, Text: text.String(), Payload: compact(raw)}
	if u := o.Usage; u != nil {
		a.Usage = &cache.Usage{PromptTokens: u.InputTokens, CompletionTokens: u.OutputTokens, TotalTokens: u.TotalTokens}
	}
	return a, nil
}

func compact(raw []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return append(json.RawMessage(nil), raw...)
	}
	return b.Bytes()
}

// Assembler observes an upstream answer, a response object (JSON) or its
// named event stream, as it passes through. Write never fails.
type Assembler struct {
	stream bool
	// MaxBytes bounds the answer kept (default wire.MaxAnswerBytes).
	MaxBytes int

	parser    sse.Parser
	body      bytes.Buffer
	size      int
	final     []byte // the response of response.completed
	chunks    cache.Chunks
	completed bool
	bad       error
}

// NewAssembler returns an assembler for a streamed (SSE) or JSON body.
func NewAssembler(stream bool) *Assembler { return &Assembler{stream: stream} }

var _ wire.Assembler = (*Assembler)(nil)

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

type streamEvent struct {
	Type     string          `json:"type"`
	Response json.RawMessage `json:"response"`
	Delta    *string         `json:"delta"`
}

func (a *Assembler) event(ev sse.Event) error {
	if a.bad != nil {
		return nil
	}
	data := bytes.TrimSpace(ev.Data)
	if bytes.Equal(data, []byte("[DONE]")) {
		return nil
	}
	var e streamEvent
	if err := json.Unmarshal(data, &e); err != nil {
		a.fail(notCacheable("malformed stream event"))
		return nil
	}
	typ := e.Type
	if typ == "" {
		typ = ev.Event
	}
	switch typ {
	case "response.output_text.delta":
		if e.Delta != nil {
			a.chunks = a.chunks.Append(len(*e.Delta))
		}
	case "error", "response.failed", "response.incomplete":
		a.fail(notCacheable("upstream %s event", typ))
	case "response.completed":
		if !canon.Present(e.Response) {
			a.fail(notCacheable("response.completed without a response"))
			return nil
		}
		a.final = append([]byte(nil), e.Response...)
		a.completed = true
	}
	return nil
}

// Complete reports whether response.completed has been seen.
func (a *Assembler) Complete() bool { return a.completed && a.bad == nil }

// Answers returns the assembled answer, or an error wrapping
// wire.ErrNotCacheable. cleanEOF tells whether the body ended without a
// transport error.
func (a *Assembler) Answers(cleanEOF bool) ([]cache.Answer, error) {
	if a.bad != nil {
		return nil, a.bad
	}
	var raw []byte
	switch {
	case a.stream && a.parser.Overflow:
		return nil, notCacheable("oversized stream line")
	case a.stream && !a.completed:
		return nil, notCacheable("stream incomplete")
	case a.stream:
		raw = a.final
	case !cleanEOF:
		return nil, notCacheable("body incomplete")
	default:
		raw = a.body.Bytes()
	}
	ans, err := judge(raw)
	if err != nil {
		return nil, err
	}
	if a.stream {
		ans.Chunks = a.chunks
	}
	return []cache.Answer{ans}, nil
}

// FromCache checks a stored answer is a response object.
func FromCache(ca *cache.Answer) (map[string]json.RawMessage, error) {
	if ca.Endpoint != Name {
		return nil, fmt.Errorf("responses: answer of endpoint %q", ca.Endpoint)
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(ca.Payload, &obj); err != nil {
		return nil, fmt.Errorf("responses: decode stored answer: %w", err)
	}
	return obj, nil
}
