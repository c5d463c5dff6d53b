package proxy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
// render and write, without the network.
func BenchmarkExactHitServerSide(b *testing.B) {
	for _, stream := range []bool{false, true} {
		name := "json"
		if stream {
			name = "sse"
		}
		b.Run(name, func(b *testing.B) {
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
			body := benchBody()
			if stream {
				body = append(body[:len(body)-1], `,"stream":true}`...)
			}
			req0, _ := chat.ParseRequest(body, wire.PromptLastMessage)
			l := req0.Lookup()
			l.Namespace = eng.Namespace(http.Header{"Authorization": {"Bearer sk-bench"}})
			ans := chat.Answer{Model: "gpt-4o-mini", Usage: &cache.Usage{PromptTokens: 250, CompletionTokens: 80, TotalTokens: 330},
				Payload: chat.Payload{Role: "assistant", Content: strings.Repeat("Shipping two paperbacks costs 7 euros. ", 10), FinishReason: "stop"}}
			c.Put(l, ans.Cache(), nil, 0, nil)
			lat := make(latencies, 0, 1<<16)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
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
