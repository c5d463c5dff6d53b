package chat

import (
	"encoding/json"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
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
	if a.Usage != nil {
		c.Usage = *a.Usage
	}
	b, _ := json.Marshal(c) // cannot fail: plain structs
	return b
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

// SSEChunkSize is how many bytes of content one replayed chunk carries.
const SSEChunkSize = 256

// RenderSSE renders a as a complete chat.completion.chunk event stream:
// the role chunk, content chunks, the finish chunk, the usage chunk when
// includeUsage is set, and "data: [DONE]".
func RenderSSE(a *Answer, id string, created int64, includeUsage bool) []byte {
	out := make([]byte, 0, len(a.Content)*2+1024)
	base := renderedChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: a.Model, SystemFingerprint: a.SystemFingerprint}
	emit := func(ch renderedStreamChoice) {
		c := base
		c.Choices = []renderedStreamChoice{ch}
		b, _ := json.Marshal(c)
		out = sse.AppendEvent(out, "", b)
	}
	empty := ""
	first := renderedDelta{Role: a.Role, Content: &empty}
	if a.Refusal != "" && a.Content == "" {
		first.Content = nil
	}
	emit(renderedStreamChoice{Delta: first})
	for _, piece := range splitUTF8(a.Content, SSEChunkSize) {
		emit(renderedStreamChoice{Delta: renderedDelta{Content: &piece}})
	}
	if a.Refusal != "" {
		r := a.Refusal
		emit(renderedStreamChoice{Delta: renderedDelta{Refusal: &r}})
	}
	finish := a.FinishReason
	emit(renderedStreamChoice{FinishReason: &finish})
	if includeUsage {
		c := base
		c.Choices = []renderedStreamChoice{}
		u := cache.Usage{}
		if a.Usage != nil {
			u = *a.Usage
		}
		c.Usage = &u
		b, _ := json.Marshal(c)
		out = sse.AppendEvent(out, "", b)
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
