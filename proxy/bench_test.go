package proxy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
)

func benchBody() []byte {
	body, _ := json.Marshal(map[string]any{
		"model":       "gpt-4o-mini",
		"temperature": 0.2,
		"messages": []map[string]string{
			{"role": "system", "content": "You are a helpful assistant for an online bookshop. " + strings.Repeat("Answer briefly and politely. ", 10)},
			{"role": "user", "content": "Which of your science fiction titles are available as paperback, and how long is delivery to Lisbon?"},
			{"role": "assistant", "content": "We have Dune, Foundation and Hyperion in paperback. " + strings.Repeat("Delivery details follow. ", 8)},
			{"role": "user", "content": "And how much would shipping cost for two of them together?"},
		},
	})
	return body
}

// reportLatency records per-op latencies as p50/p99 metrics.
type latencies []time.Duration

func (l latencies) report(b *testing.B) {
	if len(l) == 0 {
		return
	}
	slices.Sort(l)
	b.ReportMetric(float64(l[len(l)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(l[len(l)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkExactHitServerSide measures the HTTP front's handling of an
// exact hit for a ~1 KB request: body read, parse, canonical key, lookup,
// render and write, without the network. One sub-benchmark per API and
// form; embeddings is one 1536-d vector (its reply is ~20 KB of floats or
// 8 KB of base64).
func BenchmarkExactHitServerSide(b *testing.B) {
	answer := strings.Repeat("Shipping two paperbacks costs 7 euros. ", 10)
	system := "You are a helpful assistant for an online bookshop. " + strings.Repeat("Answer briefly and politely. ", 10)
	history := []map[string]string{
		{"role": "user", "content": "Which of your science fiction titles are available as paperback, and how long is delivery to Lisbon?"},
		{"role": "assistant", "content": "We have Dune, Foundation and Hyperion in paperback. " + strings.Repeat("Delivery details follow. ", 8)},
		{"role": "user", "content": "And how much would shipping cost for two of them together?"},
	}
	respBody := func(stream bool) []byte {
		b, _ := json.Marshal(map[string]any{"model": "gpt-4o-mini", "temperature": 0.2, "instructions": system,
			"input": history, "stream": stream})
		return b
	}
	respAnswer, _ := json.Marshal(map[string]any{"id": "resp_1", "object": "response", "created_at": 1, "status": "completed",
		"error": nil, "incomplete_details": nil, "model": "gpt-4o-mini", "store": true, "metadata": map[string]string{},
		"output": []any{map[string]any{"id": "msg_1", "type": "message", "status": "completed", "role": "assistant",
			"content": []any{map[string]any{"type": "output_text", "annotations": []any{}, "logprobs": []any{}, "text": answer}}}},
		"usage": map[string]int{"input_tokens": 250, "output_tokens": 80, "total_tokens": 330}})
	complBody := func(stream bool) []byte {
		b, _ := json.Marshal(map[string]any{"model": "gpt-4o-mini", "temperature": 0.2, "max_tokens": 256, "stream": stream,
			"prompt": system + "\n" + history[0]["content"] + "\n" + history[1]["content"] + "\n" + history[2]["content"]})
		return b
	}
	complAnswer, _ := json.Marshal(map[string]any{"id": "cmpl-1", "object": "text_completion", "created": 1, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{"text": answer, "index": 0, "logprobs": nil, "finish_reason": "stop"}},
		"usage":   map[string]int{"prompt_tokens": 250, "completion_tokens": 80, "total_tokens": 330}})
	vec := make([]float32, 1536)
	for i := range vec {
		vec[i] = float32(i%97)/97 - 0.5
	}
	embBody := func(format string) []byte {
		b, _ := json.Marshal(map[string]any{"model": "text-embedding-3-small", "input": "Which science fiction titles are available as paperback?", "encoding_format": format})
		return b
	}
	embAnswer, _ := json.Marshal(map[string]any{"object": "list", "model": "text-embedding-3-small",
		"data":  []any{map[string]any{"object": "embedding", "index": 0, "embedding": vec}},
		"usage": map[string]int{"prompt_tokens": 9, "total_tokens": 9}})
	cases := []struct {
		name, path, endpoint string
		body                 []byte
		warm                 []byte // the answer to warm with; nil: the chat answer below
	}{
		{"json", "/v1/chat/completions", "chat", benchBody(), nil},
		{"sse", "/v1/chat/completions", "chat", append(benchBody()[:len(benchBody())-1], `,"stream":true}`...), nil},
		{"responses-json", "/v1/responses", "responses", respBody(false), respAnswer},
		{"responses-sse", "/v1/responses", "responses", respBody(true), respAnswer},
		{"completions-json", "/v1/completions", "completions", complBody(false), complAnswer},
		{"completions-sse", "/v1/completions", "completions", complBody(true), complAnswer},
		{"embeddings-float", "/v1/embeddings", "embeddings", embBody("float"), embAnswer},
		{"embeddings-base64", "/v1/embeddings", "embeddings", embBody("base64"), embAnswer},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c, err := cache.Open(cache.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			eng, err := engine.New(engine.Options{Cache: c, Metrics: engine.NewMetrics(prometheus.NewRegistry(), 10, nil)})
			if err != nil {
				b.Fatal(err)
			}
			u, _ := url.Parse("http://127.0.0.1:1/v1")
			srv, err := NewServer(ServerOptions{Engine: eng, Upstream: u})
			if err != nil {
				b.Fatal(err)
			}
			ns := eng.Namespace(http.Header{"Authorization": {"Bearer sk-bench"}})
			if tc.warm == nil {
				req0, _ := chat.ParseRequest(tc.body, wire.PromptLastMessage)
				l := req0.Lookup()
				l.Namespace = ns
				ans := chat.Answer{Model: "gpt-4o-mini", Usage: &cache.Usage{PromptTokens: 250, CompletionTokens: 80, TotalTokens: 330},
					Payload: chat.Payload{Role: "assistant", Content: answer, FinishReason: "stop"}}
				c.Put(l, ans.Cache(), nil, 0, nil)
			} else {
				line, _ := json.Marshal(map[string]any{"endpoint": tc.endpoint, "request": json.RawMessage(tc.body), "response": json.RawMessage(tc.warm)})
				if n, err := eng.Warm(b.Context(), ns, bytes.NewReader(line)); err != nil || n != 1 {
					b.Fatalf("warm: %d, %v", n, err)
				}
			}
			lat := make(latencies, 0, 1<<16)
			b.SetBytes(int64(len(tc.body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, tc.path, bytes.NewReader(tc.body))
				req.Header.Set("Authorization", "Bearer sk-bench")
				w := httptest.NewRecorder()
				start := time.Now()
				srv.ServeHTTP(w, req)
				lat = append(lat, time.Since(start))
				if w.Header().Get("X-Semcache") != "hit-exact" {
					b.Fatalf("not a hit: %d %s", w.Code, w.Body.String())
				}
			}
			lat.report(b)
		})
	}
}

// BenchmarkEmbeddingsBatch measures a batch of 100 inputs of which 97
// are cached: 97 exact lookups, one upstream call (the simulator over
// loopback, 1536-d vectors) for the 3 others, and the merged reply.
func BenchmarkEmbeddingsBatch(b *testing.B) {
	sim := upstream.New(upstream.Options{EmbeddingDim: 1536})
	upSrv := httptest.NewServer(sim)
	defer upSrv.Close()
	c, err := cache.Open(cache.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	eng, err := engine.New(engine.Options{Cache: c, Metrics: engine.NewMetrics(prometheus.NewRegistry(), 10, nil)})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(upSrv.URL + "/v1")
	srv, err := NewServer(ServerOptions{Engine: eng, Upstream: u})
	if err != nil {
		b.Fatal(err)
	}
	cached := make([]string, 97)
	for i := range cached {
		cached[i] = fmt.Sprintf("document %d: a paragraph of a handbook about shipping and returns", i)
	}
	send := func(inputs []string, format string) *httptest.ResponseRecorder {
		body, _ := json.Marshal(map[string]any{"model": "text-embedding-3-small", "input": inputs, "encoding_format": format})
		req := httptest.NewRequest(http.MethodPost, "/v1/embeddings", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk-bench")
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		return w
	}
	if w := send(cached, "float"); w.Code != 200 {
		b.Fatalf("priming: %d %s", w.Code, w.Body.String())
	}
	for _, format := range []string{"float", "base64"} {
		b.Run(format, func(b *testing.B) {
			lat := make(latencies, 0, 1<<14)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				batch := append(slices.Clone(cached), fmt.Sprintf("new %s %d a", format, i), fmt.Sprintf("new %s %d b", format, i), fmt.Sprintf("new %s %d c", format, i))
				i++
				start := time.Now()
				w := send(batch, format)
				lat = append(lat, time.Since(start))
				if w.Header().Get("X-Semcache-Hits") != "97/100" {
					b.Fatalf("not a partial hit: %d %v", w.Code, w.Header())
				}
			}
			lat.report(b)
		})
	}
}
