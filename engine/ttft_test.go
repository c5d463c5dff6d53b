package engine

import (
	"context"
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

// TestFirstTokenAndFirstByte: a streamed answer's first token is its first
// event with content (not the role-only chunk before it); a JSON answer's
// time is its first byte. Each lands in its own histogram.
func TestFirstTokenAndFirstByte(t *testing.T) {
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	clock := time.Unix(1_000_000, 0)
	now := func() time.Time { return clock }
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg, 10, nil)
	e, err := New(Options{Cache: c, Metrics: m, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	sse := http.Header{"Content-Type": {"text/event-stream"}}
	role := `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"role":"assistant"}}]}` + "\n\n"
	content := `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{"content":"Hi"}}]}` + "\n\n"
	done := `data: {"id":"c","object":"chat.completion.chunk","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\ndata: [DONE]\n\n"

	call := e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{})
	if p := call.Plan(ctx, []byte(`{"model":"m","stream":true,"messages":[{"role":"user","content":"stream me"}]}`), true); p.Upstream == nil {
		t.Fatal("a new prompt did not go upstream")
	}
	clock = clock.Add(100 * time.Millisecond)
	call.Upstream(http.StatusOK, sse)
	call.Write([]byte(role)) // at 100 ms: not a token
	clock = clock.Add(700 * time.Millisecond)
	call.Write([]byte(content)) // at 800 ms: the first token
	clock = clock.Add(50 * time.Millisecond)
	call.Write([]byte(done))
	call.Finish(true)
	call.End()

	call = e.Begin(FrontHTTP, http.MethodPost, chatPath, http.Header{})
	if p := call.Plan(ctx, []byte(`{"model":"m","messages":[{"role":"user","content":"json please"}]}`), true); p.Upstream == nil {
		t.Fatal("a new prompt did not go upstream")
	}
	clock = clock.Add(300 * time.Millisecond)
	call.Upstream(http.StatusOK, http.Header{"Content-Type": {"application/json"}})
	call.Write([]byte(`{"id":"c","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}]}`))
	call.Finish(true)
	call.End()

	mfs := gather(t, reg)
	for _, c := range []struct {
		name string
		want float64
	}{{"semcache_upstream_first_token_seconds", 0.8}, {"semcache_upstream_first_byte_seconds", 0.3}} {
		var n uint64
		var sum float64
		for _, s := range mfs[c.name].GetMetric() {
			n += s.GetHistogram().GetSampleCount()
			sum += s.GetHistogram().GetSampleSum()
		}
		if n != 1 || math.Abs(sum-c.want) > 1e-9 {
			t.Errorf("%s: %d samples, sum %v s; want one of %v s", c.name, n, sum, c.want)
		}
	}
}
