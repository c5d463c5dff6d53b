package responses

import (
	"fmt"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
)

// This file is the Responses API's side of the engine's endpoint seam.

// Parser returns the parse function the engine registers for this API.
func Parser(mode wire.PromptMode) func(body []byte) (*Request, error) {
	return func(body []byte) (*Request, error) { return ParseRequest(body, mode) }
}

// Items describes the one cacheable answer of a request.
func (r *Request) Items() []cache.Lookup { return []cache.Lookup{r.Lookup()} }

// Bypass says why the request must never be cached ("" when it may).
func (r *Request) Bypass() string { return r.BypassReason }

// Variant names the transport choices outside the key that change the
// reply bytes.
func (r *Request) Variant() string { return fmt.Sprintf("stream=%t", r.Stream) }

// Summary is a short text for the dashboard.
func (r *Request) Summary() string {
	if r.Prompt != "" || len(r.Input) == 0 {
		return r.Prompt
	}
	return strings.TrimSpace(r.Input[len(r.Input)-1].Text)
}

// UpstreamBody returns the body with the ids semcache minted for earlier
// hits translated back to the upstream's (see ids.go), or nil when it
// names none.
func (r *Request) UpstreamBody(missing []int) ([]byte, error) {
	if !r.rewrite {
		return nil, nil
	}
	return r.translatedBody()
}

// Assembler observes the upstream answer.
func (r *Request) Assembler(stream bool, missing []int) wire.Assembler { return NewAssembler(stream) }

// Render replays a stored response with fresh ids, as a response object
// or, when the request streams, as the whole event stream.
func (r *Request) Render(answers []*cache.Answer, o wire.RenderOptions) (contentType string, body []byte, err error) {
	if len(answers) != 1 {
		return "", nil, fmt.Errorf("responses: render %d answers, want 1", len(answers))
	}
	a := answers[0]
	v, err := a.Decoded(func() (any, error) { return newTemplate(a) })
	if err != nil {
		return "", nil, err
	}
	rp := r.replay(v.(*template), &o)
	if r.Stream {
		return "text/event-stream", rp.RenderSSE(), nil
	}
	return "application/json", rp.RenderJSON(), nil
}
