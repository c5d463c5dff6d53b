// Package completions is the wire format of the legacy POST
// /v1/completions (a prompt in, text out; vLLM, llama.cpp and older
// clients still use it). It is cached in the exact tier only.
//
// # What is in the key
//
// Every field that can change the answer: model, prompt (a string, an
// array holding one string, or token ids), suffix, max_tokens,
// temperature, top_p, stop, seed, penalties, logit_bias, echo, and any
// field this package does not know. Out of the key: stream,
// stream_options, user. Defaults (temperature 1, top_p 1, n 1, best_of 1,
// penalties 0, echo false) are dropped. Never cached: n or best_of above
// 1, logprobs, a batch of several prompts.
//
// Only complete answers are stored: one choice with finish_reason "stop",
// no upstream error, no cut stream. A hit is replayed as a
// text_completion object or as a complete event stream (with the usage
// chunk when stream_options.include_usage asks for it, then [DONE]).
package completions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
	"github.com/semcache/semcache/wire/sse"
)

// Name is this API's name in cache entries and route labels; Path is
// where it is served.
const (
	Name = "completions"
	Path = "/v1/completions"
)

var keysOutOfKey = map[string]bool{"stream": true, "stream_options": true, "user": true}

var defaultValues = map[string]any{
	"temperature": 1.0, "top_p": 1.0, "n": 1.0, "best_of": 1.0, "presence_penalty": 0.0, "frequency_penalty": 0.0,
	"echo": false,
}

var numericFields = []string{"temperature", "top_p", "n", "best_of", "max_tokens", "seed", "presence_penalty", "frequency_penalty", "logprobs"}

// Request is a parsed legacy completion request.
type Request struct {
	Body         []byte
	Model        string
	Stream       bool
	IncludeUsage bool
	// Text is the prompt ("" for token prompts).
	Text         string
	BypassReason string
	canonical    []byte
}

// ParseRequest validates a completions body. Errors are
// *wire.RequestError.
func ParseRequest(body []byte) (*Request, error) {
	fields, err := canon.Object(body)
	if err != nil {
		return nil, wire.BadRequest("", "%s", err.Error())
	}
	r := &Request{Body: body}
	m, ok := fields["model"].(string)
	if !ok || strings.TrimSpace(m) == "" {
		return nil, wire.BadRequest("model", "you must provide a model parameter")
	}
	r.Model = m
	if v, ok := fields["stream"]; ok && v != nil {
		b, isBool := v.(bool)
		if !isBool {
			return nil, wire.BadRequest("stream", "stream must be a boolean")
		}
		r.Stream = b
	}
	if so, ok := fields["stream_options"].(map[string]any); ok {
		r.IncludeUsage = so["include_usage"] == true
	}
	for _, name := range numericFields {
		if v, ok := fields[name]; ok && v != nil {
			if _, isNum := v.(json.Number); !isNum {
				return nil, wire.BadRequest(name, "%s must be a number", name)
			}
		}
	}
	switch p := fields["prompt"].(type) {
	case nil:
		return nil, wire.BadRequest("prompt", "you must provide a prompt parameter")
	case string:
		r.Text = p
	case []any:
		if len(p) == 0 {
			return nil, wire.BadRequest("prompt", "prompt must not be empty")
		}
		if s, ok := p[0].(string); ok && len(p) == 1 {
			r.Text = s
		} else if _, isArr := p[0].([]any); isArr || len(p) > 1 && !allNumbers(p) {
			r.BypassReason = "several prompts"
		}
	default:
		return nil, wire.BadRequest("prompt", "prompt must be a string or an array")
	}
	for _, name := range []string{"n", "best_of"} {
		if n, ok := fields[name].(json.Number); ok {
			if f, err := n.Float64(); err == nil && f > 1 && r.BypassReason == "" {
				r.BypassReason = name + ">1"
			}
		}
	}
	if fields["logprobs"] != nil && r.BypassReason == "" {
		r.BypassReason = "logprobs"
	}
	r.canonicalise(fields)
	return r, nil
}

func allNumbers(a []any) bool {
	for _, v := range a {
		if _, ok := v.(json.Number); !ok {
			return false
		}
	}
	return true
}

func (r *Request) canonicalise(fields map[string]any) {
	names := make([]string, 0, len(fields))
	for name, v := range fields {
		if keysOutOfKey[name] || v == nil {
			continue
		}
		if def, ok := defaultValues[name]; ok {
			if f, isF := def.(float64); (isF && canon.Equal(v, f)) || v == def {
				continue
			}
		}
		names = append(names, name)
	}
	slices.Sort(names)
	out := []byte{'{'}
	for i, name := range names {
		if i > 0 {
			out = append(out, ',')
		}
		out = canon.AppendString(out, name)
		out = append(out, ':')
		v := fields[name]
		if p, ok := v.([]any); ok && name == "prompt" && len(p) == 1 {
			v = p[0] // ["x"] is "x"
		}
		out = canon.Append(out, v)
	}
	r.canonical = append(out, '}')
}

// Items describes the one cacheable answer (exact tier only).
func (r *Request) Items() []cache.Lookup {
	return []cache.Lookup{{Endpoint: Name, Model: r.Model, Key: r.canonical, SkipSemantic: true}}
}

// Bypass says why the request must never be cached ("" when it may).
func (r *Request) Bypass() string { return r.BypassReason }

// Variant names the transport choices outside the key.
func (r *Request) Variant() string {
	return fmt.Sprintf("stream=%t,usage=%t", r.Stream, r.IncludeUsage)
}

// Summary is a short text for the dashboard.
func (r *Request) Summary() string { return r.Text }

// UpstreamBody returns nil: the request goes as it came.
func (r *Request) UpstreamBody(missing []int) ([]byte, error) { return nil, nil }

// payload is what a completion answer stores.
type payload struct {
	Text              string `json:"text"`
	FinishReason      string `json:"finish_reason"`
	SystemFingerprint string `json:"system_fingerprint,omitempty"`
}

// Assembler observes a text_completion JSON body or event stream.
type Assembler struct {
	stream  bool
	parser  sse.Parser
	body    bytes.Buffer
	text    strings.Builder
	chunks  cache.Chunks
	model   string
	fp      string
	usage   *cache.Usage
	finish  string
	sawDone bool
	bad     error
	size    int
}

var _ wire.Assembler = (*Assembler)(nil)

// Assembler observes the upstream answer.
func (r *Request) Assembler(stream bool, missing []int) wire.Assembler {
	return &Assembler{stream: stream}
}

type completion struct {
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index                int             `json:"index"`
		Text                 *string         `json:"text"`
		FinishReason         *string         `json:"finish_reason"`
		ContentFilterResults json.RawMessage `json:"content_filter_results"`
	} `json:"choices"`
	Usage               *cache.Usage    `json:"usage"`
	Error               json.RawMessage `json:"error"`
	PromptFilterResults json.RawMessage `json:"prompt_filter_results"`
}

// Write feeds upstream body bytes; it never fails.
func (a *Assembler) Write(p []byte) (int, error) {
	if a.bad != nil {
		return len(p), nil
	}
	a.size += len(p)
	if a.size > wire.MaxAnswerBytes {
		a.bad = wire.NotCacheable("answer larger than %d bytes", wire.MaxAnswerBytes)
		return len(p), nil
	}
	if !a.stream {
		a.body.Write(p)
		return len(p), nil
	}
	_ = a.parser.Feed(p, func(ev sse.Event) error {
		a.chunk(ev)
		return nil
	})
	return len(p), nil
}

func (a *Assembler) fail(format string, args ...any) {
	if a.bad == nil {
		a.bad = wire.NotCacheable(format, args...)
	}
}

func (a *Assembler) chunk(ev sse.Event) {
	data := bytes.TrimSpace(ev.Data)
	if bytes.Equal(data, []byte("[DONE]")) {
		a.sawDone = true
		return
	}
	var c completion
	if ev.Event == "error" || json.Unmarshal(data, &c) != nil || canon.Present(c.Error) {
		a.fail("upstream error or malformed chunk")
		return
	}
	a.absorb(&c)
}

// absorb adds a chunk (or a whole completion) to the answer.
func (a *Assembler) absorb(c *completion) {
	if c.Model != "" {
		a.model = c.Model
	}
	if c.SystemFingerprint != "" {
		a.fp = c.SystemFingerprint
	}
	if c.Usage != nil {
		u := *c.Usage
		a.usage = &u
	}
	if wire.Filtered(c.PromptFilterResults) {
		a.fail("content filtered")
		return
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			a.fail("more than one choice")
			return
		}
		if wire.Filtered(ch.ContentFilterResults) {
			a.fail("content filtered")
			return
		}
		if ch.Text != nil {
			a.text.WriteString(*ch.Text)
			if a.stream {
				a.chunks = a.chunks.Append(len(*ch.Text))
			}
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.finish = *ch.FinishReason
		}
	}
}

// Complete reports whether a stream's [DONE] has been seen.
func (a *Assembler) Complete() bool { return a.sawDone && a.bad == nil }

// Answers returns the one answer, or an error wrapping
// wire.ErrNotCacheable.
func (a *Assembler) Answers(clean bool) ([]cache.Answer, error) {
	if a.bad != nil {
		return nil, a.bad
	}
	if !a.stream {
		if !clean {
			return nil, wire.NotCacheable("body incomplete")
		}
		var c completion
		if err := json.Unmarshal(a.body.Bytes(), &c); err != nil {
			return nil, wire.NotCacheable("malformed completion body")
		}
		if canon.Present(c.Error) {
			return nil, wire.NotCacheable("upstream error body")
		}
		if len(c.Choices) != 1 {
			return nil, wire.NotCacheable("expected exactly one choice, got %d", len(c.Choices))
		}
		a.absorb(&c)
		if a.bad != nil {
			return nil, a.bad
		}
	} else if !a.sawDone && !(clean && a.finish != "" && !a.parser.Pending()) {
		return nil, wire.NotCacheable("stream incomplete")
	}
	if a.finish != "stop" {
		return nil, wire.NotCacheable("finish_reason %q", a.finish)
	}
	if strings.TrimSpace(a.text.String()) == "" {
		return nil, wire.NotCacheable("empty answer")
	}
	p, _ := json.Marshal(payload{Text: a.text.String(), FinishReason: a.finish, SystemFingerprint: a.fp})
	return []cache.Answer{{Endpoint: Name, Model: a.model, Usage: a.usage, Text: a.text.String(), Payload: p, Chunks: a.chunks}}, nil
}

type renderedChoice struct {
	Text         string    `json:"text"`
	Index        int       `json:"index"`
	Logprobs     *struct{} `json:"logprobs"`
	FinishReason *string   `json:"finish_reason"`
}

type rendered struct {
	ID                string           `json:"id"`
	Object            string           `json:"object"`
	Created           int64            `json:"created"`
	Model             string           `json:"model"`
	SystemFingerprint string           `json:"system_fingerprint,omitempty"`
	Choices           []renderedChoice `json:"choices"`
	Usage             *cache.Usage     `json:"usage,omitempty"`
}

// Render replays a stored answer as a text_completion object or a
// complete event stream (in the stored answer's chunks, see wire.Pieces),
// with a fresh id.
func (r *Request) Render(answers []*cache.Answer, o wire.RenderOptions) (contentType string, body []byte, err error) {
	if len(answers) != 1 || answers[0].Endpoint != Name {
		return "", nil, fmt.Errorf("completions: cannot render %d answers", len(answers))
	}
	a := answers[0]
	var p payload
	if err := json.Unmarshal(a.Payload, &p); err != nil {
		return "", nil, fmt.Errorf("completions: decode stored answer: %w", err)
	}
	base := rendered{ID: wire.NewID("cmpl-sc"), Object: "text_completion", Created: o.Now.Unix(), Model: a.Model,
		SystemFingerprint: p.SystemFingerprint}
	usage := cache.Usage{}
	if a.Usage != nil {
		usage = *a.Usage
	}
	var saved json.RawMessage
	if !o.Counted(0) {
		if a.Usage != nil {
			saved, _ = json.Marshal(a.Usage)
		}
		usage = cache.Usage{}
	}
	marker := o.MarkerJSON(saved)
	if !r.Stream {
		c := base
		c.Choices = []renderedChoice{{Text: p.Text, FinishReason: &p.FinishReason}}
		c.Usage = &usage
		b, _ := json.Marshal(c)
		return "application/json", wire.AppendMember(b, marker), nil
	}
	var out []byte
	emit := func(c rendered, last bool) {
		b, _ := json.Marshal(c)
		if last {
			b = wire.AppendMember(b, marker)
		}
		out = sse.AppendEvent(out, "", b)
	}
	for _, piece := range wire.Pieces(p.Text, a.Chunks) {
		c := base
		c.Choices = []renderedChoice{{Text: piece}}
		emit(c, false)
	}
	c := base
	c.Choices = []renderedChoice{{FinishReason: &p.FinishReason}}
	emit(c, !r.IncludeUsage)
	if r.IncludeUsage {
		c := base
		c.Choices = []renderedChoice{}
		c.Usage = &usage
		emit(c, true)
	}
	return "text/event-stream", append(out, "data: [DONE]\n\n"...), nil
}
