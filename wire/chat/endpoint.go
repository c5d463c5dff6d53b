package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
)

// This file is the chat API's side of the engine's endpoint seam: what
// engine.Request asks of a parsed request.

// Parser returns the parse function the engine registers for this API.
func Parser(mode wire.PromptMode) func(body []byte) (*Request, error) {
	return func(body []byte) (*Request, error) { return ParseRequest(body, mode) }
}

// Items describes the one cacheable answer of a chat request.
func (r *Request) Items() []cache.Lookup { return []cache.Lookup{r.Lookup()} }

// Bypass says why the request must never be cached ("" when it may).
func (r *Request) Bypass() string { return r.BypassReason }

// Variant names the transport choices outside the key that change the
// reply bytes: two requests with the same key and variant get the same
// bytes from one upstream call.
func (r *Request) Variant() string {
	return fmt.Sprintf("stream=%t,usage=%t", r.Stream, r.IncludeUsage)
}

// Summary is a short text for the dashboard: the embedded prompt, else the
// last message.
func (r *Request) Summary() string {
	if r.Prompt != "" || len(r.Messages) == 0 {
		return r.Prompt
	}
	return strings.TrimSpace(r.Messages[len(r.Messages)-1].Text)
}

// UpstreamBody returns nil: a chat request goes upstream as it came (RAG
// enrichment aside, which the engine applies).
func (r *Request) UpstreamBody(missing []int) ([]byte, error) { return nil, nil }

// Assembler observes the upstream answer.
func (r *Request) Assembler(stream bool, missing []int) wire.Assembler { return NewAssembler(stream) }

// decoded is a stored chat answer ready to replay (kept with the cache
// entry, see cache.Answer.Decoded).
type decoded struct {
	Answer
	pieces []string
}

// Render replays a stored answer as a chat.completion (or a whole SSE
// transcript when the request streams, in the stored answer's chunks),
// with a fresh id and created time.
func (r *Request) Render(answers []*cache.Answer, o wire.RenderOptions) (contentType string, body []byte, err error) {
	if len(answers) != 1 {
		return "", nil, fmt.Errorf("chat: render %d answers, want 1", len(answers))
	}
	v, err := answers[0].Decoded(func() (any, error) {
		a, err := FromCache(answers[0])
		if err != nil {
			return nil, err
		}
		return &decoded{Answer: a, pieces: wire.Pieces(a.Content, a.Chunks)}, nil
	})
	if err != nil {
		return "", nil, err
	}
	d := v.(*decoded)
	if r.Stream {
		return "text/event-stream", renderSSE(&d.Answer, d.pieces, NewResponseID(), o.Now.Unix(), r.IncludeUsage, &o), nil
	}
	return "application/json", renderJSON(&d.Answer, NewResponseID(), o.Now.Unix(), &o), nil
}

// ChatRequest lets the engine enrich the request with RAG context.
func (r *Request) ChatRequest() *Request { return r }

// warmShort is the short answer form of a warm file line.
type warmShort struct {
	Content *string      `json:"content"`
	Model   string       `json:"model"`
	Usage   *cache.Usage `json:"usage"`
}

// WarmAnswers reads the answer of a warm file line: a full chat.completion
// object (judged by the same Assembler as upstream answers: one choice,
// finish_reason "stop", no tool calls) or the short form {"content": ...,
// "model": ..., "usage": ...} where only content is required.
func (r *Request) WarmAnswers(raw []byte) ([]cache.Answer, error) {
	var probe struct {
		Choices json.RawMessage `json:"choices"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("not a JSON object: %s", canon.ErrorText(err))
	}
	var ans Answer
	if len(probe.Choices) > 0 {
		a := NewAssembler(false)
		_, _ = a.Write(raw)
		var err error
		if ans, err = a.Result(true); err != nil {
			return nil, err
		}
	} else {
		var s warmShort
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("short form: %s", canon.ErrorText(err))
		}
		if s.Content == nil {
			return nil, errors.New(`want a chat.completion object or {"content": "..."}`)
		}
		ans = Answer{Model: s.Model, Usage: s.Usage, Payload: Payload{Role: "assistant", Content: *s.Content, FinishReason: "stop"}}
	}
	if ans.Model == "" {
		ans.Model = r.Model
	}
	return []cache.Answer{ans.Cache()}, nil
}
