package cache

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
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
		r, err := ParseRequest(body, PromptLastMessage)
		if err != nil {
			b.Fatal(err)
		}
		_ = r.Key("ns")
	}
}

func BenchmarkExactLookup(b *testing.B) {
	c, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	r, _ := ParseRequest(request1KB(), PromptLastMessage)
	l := Lookup{Namespace: "ns", Request: r}
	c.Put(l, Answer{Model: "m", Role: "assistant", Content: strings.Repeat("word ", 200), FinishReason: "stop"}, nil, 0, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Get(ctx, l); res.Tier != TierExact {
			b.Fatal("miss")
		}
	}
}

func BenchmarkRenderSSE(b *testing.B) {
	a := Answer{Model: "m", Role: "assistant", Content: strings.Repeat("word ", 200), FinishReason: "stop", Usage: &Usage{10, 200, 210}}
	b.ReportAllocs()
	for b.Loop() {
		_ = RenderSSE(&a, "chatcmpl-x", 1, true)
	}
}
