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

// BenchmarkRenderHit renders a stored ~1 KB answer as a hit, the way the
// engine does (the decoded answer and its pieces kept with the entry):
// JSON, a stream in the upstream's ~4-byte chunks, and a stream with the
// marker and zeroed usage.
func BenchmarkRenderHit(b *testing.B) {
	content := strings.Repeat("word ", 200)
	var chunks cache.Chunks
	for range 250 {
		chunks = chunks.Append(4)
	}
	a := Answer{Model: "m", Usage: &cache.Usage{PromptTokens: 10, CompletionTokens: 200, TotalTokens: 210}, Chunks: chunks,
		Payload: Payload{Role: "assistant", Content: content, FinishReason: "stop"}}
	raw, _ := cache.MarshalEntry(&cache.Entry{Key: "k", Namespace: "ns", Answer: a.Cache()})
	e, err := cache.UnmarshalEntry(raw)
	if err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		body string
		o    wire.RenderOptions
	}{
		{"json", `{"model":"m","messages":[{"role":"user","content":"q"}]}`, wire.RenderOptions{}},
		{"sse", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q"}]}`, wire.RenderOptions{}},
		{"sse-marker-zero", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q"}]}`,
			wire.RenderOptions{ZeroUsage: true, Marker: &wire.Marker{Hit: "exact", Entry: "e", Age: 3}}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r, err := ParseRequest([]byte(tt.body), wire.PromptLastMessage)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := r.Render([]*cache.Answer{&e.Answer}, tt.o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
