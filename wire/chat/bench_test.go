package chat

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
)

// request1KB is a realistic ~1 KB chat request: a system prompt, two turns
// and sampling parameters.
func request1KB() []byte {
	body, _ := json.Marshal(map[string]any{
		"model":       "gpt-4o-mini",
		"temperature": 0.2,
		"max_tokens":  512,
		"messages": []map[string]string{
			{"role": "system", "content": "You are a helpful assistant for an online bookshop. " + strings.Repeat("Answer briefly and politely. ", 10)},
			{"role": "user", "content": "Which of your science fiction titles are available as paperback, and how long is delivery to Lisbon?"},
			{"role": "assistant", "content": "We have Dune, Foundation and Hyperion in paperback. " + strings.Repeat("Delivery details follow. ", 8)},
			{"role": "user", "content": "And how much would shipping cost for two of them together?"},
		},
	})
	return body
}

func BenchmarkCanonicalise1KB(b *testing.B) {
	body := request1KB()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		r, err := ParseRequest(body, wire.PromptLastMessage)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Key("ns")
	}
}

func BenchmarkRenderSSE(b *testing.B) {
	a := Answer{Model: "m", Usage: &cache.Usage{PromptTokens: 10, CompletionTokens: 200, TotalTokens: 210},
		Payload: Payload{Role: "assistant", Content: strings.Repeat("word ", 200), FinishReason: "stop"}}
	b.ReportAllocs()
	for b.Loop() {
		_ = RenderSSE(&a, "chatcmpl-x", 1, true)
	}
}
