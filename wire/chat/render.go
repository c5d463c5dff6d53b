package chat

import (
	"bytes"
	"encoding/json"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
	"github.com/semcache/semcache/wire/sse"
)

// NewResponseID returns a fresh chat-completion id ("chatcmpl-…"): every
// served response gets its own, hits included.
func NewResponseID() string { return wire.NewID("chatcmpl-sc") }

type renderedMessage struct {
	Role    string  `json:"role"`
	Content *string `json:"content"`
	Refusal *string `json:"refusal"`
}

type renderedChoice struct {
	Index        int             `json:"index"`
	Message      renderedMessage `json:"message"`
	Logprobs     *struct{}       `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

type renderedCompletion struct {
	ID                string           `json:"id"`
	Object            string           `json:"object"`
	Created           int64            `json:"created"`
	Model             string           `json:"model"`
	SystemFingerprint string           `json:"system_fingerprint,omitempty"`
	Choices           []renderedChoice `json:"choices"`
	Usage             cache.Usage      `json:"usage"`
}

// RenderJSON renders a as a chat.completion body.
func RenderJSON(a *Answer, id string, created int64) []byte {
	return renderJSON(a, id, created, &wire.RenderOptions{})
}

// usageOf returns the usage a reply reports for a stored answer and, when
// it is zeroed, the usage it had (for the marker's saved_usage).
func usageOf(a *Answer, o *wire.RenderOptions) (reported cache.Usage, saved json.RawMessage) {
	if a.Usage != nil {
		reported = *a.Usage
	}
	if o.Counted(0) {
		return reported, nil
	}
	if a.Usage != nil {
		saved, _ = json.Marshal(a.Usage)
	}
	return cache.Usage{}, saved
}

func renderJSON(a *Answer, id string, created int64, o *wire.RenderOptions) []byte {
	c := renderedCompletion{
		ID:                id,
		Object:            "chat.completion",
		Created:           created,
		Model:             a.Model,
		SystemFingerprint: a.SystemFingerprint,
		Choices: []renderedChoice{{
			Message:      renderedMessage{Role: a.Role, Content: &a.Content},
			FinishReason: a.FinishReason,
		}},
	}
	if a.Refusal != "" {
		// A refusal (stored before refusals stopped being cached) replays
		// as one: content null, as the API sends it.
		c.Choices[0].Message.Refusal = &a.Refusal
		if a.Content == "" {
			c.Choices[0].Message.Content = nil
		}
	}
	var saved json.RawMessage
	c.Usage, saved = usageOf(a, o)
	b, _ := json.Marshal(c) // cannot fail: plain structs
	return wire.AppendMember(b, o.MarkerJSON(saved))
}

type renderedDelta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	Refusal *string `json:"refusal,omitempty"`
}

type renderedStreamChoice struct {
	Index        int           `json:"index"`
	Delta        renderedDelta `json:"delta"`
	Logprobs     *struct{}     `json:"logprobs"`
	FinishReason *string       `json:"finish_reason"`
}

type renderedChunk struct {
	ID                string                 `json:"id"`
	Object            string                 `json:"object"`
	Created           int64                  `json:"created"`
	Model             string                 `json:"model"`
	SystemFingerprint string                 `json:"system_fingerprint,omitempty"`
	Choices           []renderedStreamChoice `json:"choices"`
	Usage             *cache.Usage           `json:"usage,omitempty"`
}

// RenderSSE renders a as a complete chat.completion.chunk event stream:
// the role chunk, content chunks, the finish chunk, the usage chunk when
// includeUsage is set, and "data: [DONE]".
func RenderSSE(a *Answer, id string, created int64, includeUsage bool) []byte {
	return renderSSE(a, wire.Pieces(a.Content, a.Chunks), id, created, includeUsage, &wire.RenderOptions{})
}

// renderSSE renders the stream with the content in pieces (see
// wire.Pieces): one content chunk each. The marker goes on the last chunk
// before [DONE] (the usage chunk, else the finish chunk).
func renderSSE(a *Answer, pieces []string, id string, created int64, includeUsage bool, o *wire.RenderOptions) []byte {
	out := make([]byte, 0, len(a.Content)+len(pieces)*(200+len(id)+len(a.Model)+len(a.SystemFingerprint))+1024)
	base := renderedChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: a.Model, SystemFingerprint: a.SystemFingerprint}
	reported, saved := usageOf(a, o)
	marker := o.MarkerJSON(saved)
	emit := func(ch renderedStreamChoice, last bool) {
		c := base
		c.Choices = []renderedStreamChoice{ch}
		b, _ := json.Marshal(c)
		if last {
			b = wire.AppendMember(b, marker)
		}
		out = sse.AppendEvent(out, "", b)
	}
	empty := ""
	first := renderedDelta{Role: a.Role, Content: &empty}
	if a.Refusal != "" && a.Content == "" {
		first.Content = nil
	}
	emit(renderedStreamChoice{Delta: first}, false)
	// Content chunks are the bulk of a replay: their constant head and
	// tail are marshalled once.
	head, _ := json.Marshal(base) // ends in "choices":null}
	head = append(bytes.TrimSuffix(head, []byte(`null}`)), `[{"index":0,"delta":{"content":`...)
	const tail = "},\"logprobs\":null,\"finish_reason\":null}]}\n\n"
	for _, piece := range pieces {
		out = append(append(out, "data: "...), head...)
		out = append(canon.AppendString(out, piece), tail...)
	}
	if a.Refusal != "" {
		r := a.Refusal
		emit(renderedStreamChoice{Delta: renderedDelta{Refusal: &r}}, false)
	}
	finish := a.FinishReason
	emit(renderedStreamChoice{FinishReason: &finish}, !includeUsage)
	if includeUsage {
		c := base
		c.Choices = []renderedStreamChoice{}
		c.Usage = &reported
		b, _ := json.Marshal(c)
		out = sse.AppendEvent(out, "", wire.AppendMember(b, marker))
	}
	return append(out, "data: [DONE]\n\n"...)
}

// splitUTF8 cuts s into pieces of at most n bytes without splitting a rune.
func splitUTF8(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && s[cut]&0xC0 == 0x80 {
			cut--
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
