package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/vectorstore/memory"
)

// slowEmbedder delays every embedding, so a lookup takes that long to
// decide.
type slowEmbedder struct {
	*lexical.Embedder
	delay time.Duration
	slow  atomic.Bool
}

func (e *slowEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	if e.slow.Load() {
		select {
		case <-time.After(e.delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return e.Embedder.Embed(ctx, texts)
}

// specUpstream answers chat completions, recording when each call
// arrived and whether its client cancelled it; hold makes it wait for
// the client to go away (a hit must cancel it).
type specUpstream struct {
	calls, cancelled atomic.Int64
	arrived          chan time.Time
	hold             atomic.Bool
}

func (u *specUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.calls.Add(1)
	u.arrived <- time.Now()
	_, _ = io.Copy(io.Discard, r.Body)
	if u.hold.Load() {
		select {
		case <-r.Context().Done():
			u.cancelled.Add(1)
			return
		case <-time.After(5 * time.Second):
		}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"id": "c", "object": "chat.completion", "model": "m",
		"choices": []any{map[string]any{"index": 0, "finish_reason": "stop",
			"message": map[string]any{"role": "assistant", "content": "Hold the reset button for ten seconds."}}},
		"usage": map[string]any{"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}})
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if label == "" || (len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label) {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1 // not registered
}

// TestSpeculativeUpstream: with --speculative-upstream, a lookup that
// has not decided in time gets its upstream call started alongside; a
// miss uses that call (one upstream call, started before the lookup
// ended), a hit cancels it (the upstream sees the cancellation; counted
// with its estimated prompt tokens); a lookup that decides in time
// starts nothing.
func TestSpeculativeUpstream(t *testing.T) {
	const delay = 300 * time.Millisecond
	lex, err := lexical.New(lexical.Options{})
	if err != nil {
		t.Fatal(err)
	}
	emb := &slowEmbedder{Embedder: lex, delay: delay}
	mem, err := memory.Open(context.Background(), memory.Options{Dimension: emb.Dimension()})
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	sem, err := simtier.Options(simtier.Config{Embedder: emb, Index: mem, Kind: "lexical", EmbedTimeout: 5 * time.Second, SearchTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cache.Options{Semantic: &sem})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reg := prometheus.NewRegistry()
	eng, err := engine.New(engine.Options{Cache: c, Metrics: engine.NewMetrics(reg, 0, nil)})
	if err != nil {
		t.Fatal(err)
	}
	up := &specUpstream{arrived: make(chan time.Time, 16)}
	upSrv := httptest.NewServer(up)
	defer upSrv.Close()
	u, _ := url.Parse(upSrv.URL + "/v1")
	srv, err := NewServer(ServerOptions{Engine: eng, Upstream: u, SpeculativeUpstream: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(srv)
	defer front.Close()
	if got := counterValue(t, reg, "semcache_speculative_upstream_total", engine.SpeculationCancelled); got != 0 {
		t.Fatalf("cancelled counter before any call = %v, want 0 (registered at start)", got)
	}
	ask := func(prompt string) (*http.Response, time.Time) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"model": "m", "messages": []map[string]string{{"role": "user", "content": prompt}}})
		start := time.Now()
		resp, err := front.Client().Post(front.URL+"/v1/chat/completions", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp, start
	}

	// A fast lookup (embedding at once): no speculation.
	if r, _ := ask("How do I reset my home router?"); r.Header.Get("X-Semcache") != "miss" {
		t.Fatalf("first ask: %s", r.Header.Get("X-Semcache"))
	}
	<-up.arrived
	if got := counterValue(t, reg, "semcache_speculative_upstream_total", engine.SpeculationUsed); got != 0 {
		t.Fatalf("used = %v after a fast lookup, want 0", got)
	}
	if err := c.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	// A slow lookup that misses: the upstream call starts before the
	// lookup has decided, and is the one the answer comes from.
	emb.slow.Store(true)
	r, start := ask("What is the capital of Portugal and its population?")
	arrived := <-up.arrived
	if r.Header.Get("X-Semcache") != "miss" || r.StatusCode != http.StatusOK {
		t.Fatalf("slow miss: %d %s", r.StatusCode, r.Header.Get("X-Semcache"))
	}
	if lag := arrived.Sub(start); lag >= delay {
		t.Errorf("upstream call arrived %v after the request, not before the %v lookup ended", lag, delay)
	}
	if got := up.calls.Load(); got != 2 {
		t.Errorf("upstream calls = %d, want 2 (the miss used the speculative call)", got)
	}
	if got := counterValue(t, reg, "semcache_speculative_upstream_total", engine.SpeculationUsed); got != 1 {
		t.Errorf("used = %v, want 1", got)
	}

	// A slow lookup that hits: the speculative call is cancelled.
	up.hold.Store(true)
	r, _ = ask("how do I reset my home router")
	<-up.arrived
	if v := r.Header.Get("X-Semcache"); v != "hit-semantic" {
		t.Fatalf("paraphrase: X-Semcache %q, want hit-semantic", v)
	}
	deadline := time.Now().Add(5 * time.Second)
	for up.cancelled.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := up.cancelled.Load(); got != 1 {
		t.Errorf("upstream saw %d cancellations, want 1", got)
	}
	if got := counterValue(t, reg, "semcache_speculative_upstream_total", engine.SpeculationCancelled); got != 1 {
		t.Errorf("cancelled = %v, want 1", got)
	}
	if got := counterValue(t, reg, "semcache_speculative_cancelled_prompt_tokens_total", ""); got <= 0 {
		t.Errorf("cancelled prompt tokens = %v, want > 0", got)
	}
}
