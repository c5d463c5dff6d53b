package proxy

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/bench/upstream"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/vectorstore/memory"
)

// missBody is the i-th distinct chat request (the shape semcache-bench
// compare sends).
func missBody(i int, stream bool) []byte {
	b := []byte(`{"model":"sim-gpt","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":`)
	b = strconv.AppendQuote(b, benchPrompt(i))
	b = append(b, `}]`...)
	if stream {
		b = append(b, `,"stream":true,"stream_options":{"include_usage":true}`...)
	}
	return append(b, '}')
}

// inMemoryUpstream answers upstream calls with the simulator without a
// network, so a profile shows semcache's own work.
type inMemoryUpstream struct{ h http.Handler }

func (u inMemoryUpstream) RoundTrip(r *http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	u.h.ServeHTTP(w, r)
	resp := w.Result()
	resp.Request = r
	return resp, nil
}

// BenchmarkMissServerSide measures the HTTP front's handling of a miss
// (every request distinct): body read, parse, canonical key, exact
// lookup, (with semantic=lexical: embedding, search, verification), the
// upstream call, the answer passed on and assembled on the side, the
// write-back (to a bbolt disk tier, as semcache serve has), metrics. The
// upstream is the simulator, in memory ("inmem", so a CPU or allocation
// profile shows semcache's own work) or over loopback ("loopback", the
// transport included). Besides the handler's latency it reports the
// process's CPU time per request (cpu-µs/op: every goroutine, the
// write-back's disk commits and the simulator included), measured until
// the write-back has flushed. Profile with
//
//	go test ./proxy -run '^$' -bench MissServerSide/off/inmem/json -cpuprofile cpu.out -memprofile mem.out
func BenchmarkMissServerSide(b *testing.B) {
	for _, semantic := range []string{"off", "lexical"} {
		for _, transport := range []string{"inmem", "loopback"} {
			for _, stream := range []bool{false, true} {
				name := semantic + "/" + transport + "/" + map[bool]string{false: "json", true: "sse"}[stream]
				b.Run(name, func(b *testing.B) { benchMiss(b, semantic, transport, stream) })
			}
		}
	}
}

func benchMiss(b *testing.B, semantic, transport string, stream bool) {
	sim := upstream.New(upstream.Options{})
	var rt http.RoundTripper = inMemoryUpstream{sim}
	base := "http://upstream.invalid/v1"
	if transport == "loopback" {
		up := httptest.NewServer(sim)
		defer up.Close()
		base, rt = up.URL+"/v1", nil
	}
	copts := cache.Options{Dir: b.TempDir()}
	if semantic == "lexical" {
		emb, err := lexical.New(lexical.Options{})
		if err != nil {
			b.Fatal(err)
		}
		st, err := memory.Open(context.Background(), memory.Options{Dimension: emb.Dimension()})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		sem, err := simtier.Options(simtier.Config{Embedder: emb, Index: st, Kind: "lexical", TopK: 5})
		if err != nil {
			b.Fatal(err)
		}
		copts.Semantic = &sem
	}
	c, err := cache.Open(copts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	eng, err := engine.New(engine.Options{Cache: c, Metrics: engine.NewMetrics(prometheus.NewRegistry(), 10, nil)})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse(base)
	srv, err := NewServer(ServerOptions{Engine: eng, Upstream: u, Transport: rt})
	if err != nil {
		b.Fatal(err)
	}
	const n = 1 << 14
	bodies := make([][]byte, n)
	for i := range bodies {
		bodies[i] = missBody(i, stream)
	}
	lat := make(latencies, 0, 1<<16)
	i := 0
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		body := bodies[i%n]
		if i >= n {
			body = missBody(i+1<<20, stream) // still distinct
		}
		i++
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer sk-bench")
		w := httptest.NewRecorder()
		start := time.Now()
		srv.ServeHTTP(w, req)
		lat = append(lat, time.Since(start))
		if w.Code != http.StatusOK || w.Header().Get("X-Semcache") != "miss" {
			b.Fatalf("not a miss: %d %v %s", w.Code, w.Header(), w.Body.String())
		}
		_, _ = io.Copy(io.Discard, w.Body)
	}
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(i), "cpu-µs/op")
	b.StopTimer()
	lat.report(b)
}
