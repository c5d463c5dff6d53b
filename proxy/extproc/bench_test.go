package extproc_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
)

// reportPercentiles reports p50 and p99 of ds in microseconds.
func reportPercentiles(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(at(0.50), name+"-p50-us")
	b.ReportMetric(at(0.99), name+"-p99-us")
}

// BenchmarkExtProcHit measures a cache hit through ext_proc over loopback
// TCP gRPC, one Process stream per op as Envoy opens one per request:
// request_headers, then request_body answered with the ImmediateResponse.
// body-p50/p99 is the request_body → ImmediateResponse round trip (the
// delay the lookup adds); stream-p50/p99 the whole stream, opened to
// closed. The driver enforces Envoy's default 200 ms message timeout.
func BenchmarkExtProcHit(b *testing.B) {
	for _, tc := range []struct {
		name     string
		semantic bool
		want     string
	}{
		{"exact", false, "hit-exact"},
		{"semantic-lexical-1k", true, "hit-semantic"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var opts []harnessOpt
			if tc.semantic {
				opts = append(opts, withSemantic(cache.SemanticOptions{Threshold: 0.8}))
			}
			h := newHarness(b, opts...)
			h.driver.Config.MessageTimeout = documentedConfig(b).MessageTimeout // 200 ms
			ctx := context.Background()
			prime := chatRequest("bench", chatBody("How do I reset my password on the website?", false))
			if _, err := h.driver.Do(ctx, prime); err != nil {
				b.Fatal(err)
			}
			query := prime
			if tc.semantic {
				fillCache(b, h, 1000)
				query = chatRequest("bench", chatBody("how do i reset my password on the website", false))
			}
			var body, whole []time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				resp, err := h.driver.Do(ctx, query)
				if err != nil {
					b.Fatal(err)
				}
				whole = append(whole, time.Since(start))
				if got := resp.Header.Get("X-Semcache"); !resp.Immediate || got != tc.want {
					b.Fatalf("X-Semcache %q, want %q", got, tc.want)
				}
				body = append(body, resp.RoundTrips[len(resp.RoundTrips)-1].Time)
			}
			b.StopTimer()
			reportPercentiles(b, "body", body)
			reportPercentiles(b, "stream", whole)
		})
	}
}

// BenchmarkExtAuthzHit measures a hit served by ext_authz Check.
func BenchmarkExtAuthzHit(b *testing.B) {
	h := newHarness(b)
	ctx := context.Background()
	req := chatRequest("bench", chatBody("How do I reset my password on the website?", false))
	if _, err := h.driver.Do(ctx, req); err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		resp, err := h.authz.Do(ctx, req)
		if err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
		if !resp.Denied {
			b.Fatal("not a hit")
		}
	}
	b.StopTimer()
	reportPercentiles(b, "check", ds)
}

// fillCache stores n unrelated answers in the bench namespace and waits
// until the similarity tier has them all.
func fillCache(b *testing.B, h *harness, n int) {
	b.Helper()
	nsr, _ := engine.NewNamespacer(nil, "")
	ns := nsr.Resolve(http.Header{"Authorization": {"Bearer bench"}})
	for i := range n {
		req, err := chat.ParseRequest(chatBody(fmt.Sprintf("unrelated question number %d about topic %d", i, i*7), false), wire.PromptLastMessage)
		if err != nil {
			b.Fatal(err)
		}
		l := req.Lookup()
		l.Namespace = ns
		h.cache.Put(l, (&chat.Answer{Payload: chat.Payload{Role: "assistant", Content: "filler", FinishReason: "stop"}}).Cache(), nil, 0, nil)
	}
	if err := h.cache.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
}
