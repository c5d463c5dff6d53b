package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/semcache/semcache/bench/textgen"
	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/simtier"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/embed/use"
	"github.com/semcache/semcache/engine"
	"github.com/semcache/semcache/vectorstore"
	"github.com/semcache/semcache/vectorstore/memory"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/chat"
)

var (
	benchSubjects = []string{"python", "postgres", "kubernetes", "react", "rust", "terraform", "docker", "nginx", "kafka", "redis",
		"golang", "java", "typescript", "linux", "git", "aws", "azure", "graphql", "django", "spark", "pandas", "numpy", "bash", "vim"}
	benchTasks = []string{"reverse a list", "parse a date", "read a file line by line", "connect to a database", "handle errors",
		"write a unit test", "sort a map by value", "merge two dictionaries", "deploy a container", "configure logging",
		"measure latency", "retry a request", "stream a response", "limit concurrency", "cache query results",
		"validate user input", "rotate secrets", "profile memory usage", "paginate results", "schedule a job"}
	benchStyles = []string{"How do I %s in %s?", "What is the best way to %s with %s?", "Show me how to %s using %s.",
		"Can you explain how to %s in %s?", "What's the idiomatic way to %s in %s?"}
)

// benchPrompt returns the i-th synthetic question; 2,400 distinct
// question shapes times a unique suffix make every prompt different.
func benchPrompt(i int) string {
	q := fmt.Sprintf(benchStyles[i%len(benchStyles)], benchTasks[(i/len(benchStyles))%len(benchTasks)],
		benchSubjects[(i/(len(benchStyles)*len(benchTasks)))%len(benchSubjects)])
	return fmt.Sprintf("%s (ticket %d)", q, i)
}

// BenchmarkSemanticHit measures server-side handling of a semantic hit:
// parse, exact miss, embedding, HNSW search among N entries of one
// namespace and partition, the verifier (with its shipped model and
// cut-off), rendering. N defaults to 100,000 (SEMCACHE_BENCH_ENTRIES
// overrides it); the embedder is lexical, or USE-lite with
// SEMCACHE_BENCH_EMBEDDER=use (model from $SEMCACHE_MODEL_DIR); the
// prompts are synthetic question shapes, or realistic texts with
// SEMCACHE_BENCH_CORPUS=realistic (see below), after
// SEMCACHE_BENCH_WARMUP unmeasured ones (default 0); the index
// is built once and kept in $TMPDIR/semcache-bench-semantic-N-MODEL for
// later runs.
func BenchmarkSemanticHit(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SEMCACHE_BENCH_ENTRIES")); err == nil && v > 0 {
		n = v
	}
	ctx := context.Background()
	var emb interface {
		embedder
		Dimension() int
	}
	kind := "lexical"
	if os.Getenv("SEMCACHE_BENCH_EMBEDDER") == "use" {
		e, err := use.Load(os.Getenv("SEMCACHE_MODEL_DIR"))
		if err != nil {
			b.Fatal(err)
		}
		emb, kind = e, "use"
	} else {
		e, err := lexical.New(lexical.Options{})
		if err != nil {
			b.Fatal(err)
		}
		emb = e
	}
	// The prompts: the synthetic question shapes (benchPrompt), or with
	// SEMCACHE_BENCH_CORPUS=realistic the scale benchmarks' texts
	// (bench/textgen: the project's questions and statements and
	// recombinations of their sentences), asked again with a word dropped
	// or replaced.
	prompt, corpusName := benchPrompt, ""
	var corpus *textgen.Corpus
	if os.Getenv("SEMCACHE_BENCH_CORPUS") == "realistic" {
		c, err := textgen.Load(textgen.Sources("proxy")...)
		if err != nil {
			b.Fatal(err)
		}
		texts := c.Texts(n, 1)
		prompt, corpus, corpusName = func(i int) string { return texts[i] }, c, "-realistic"
	}
	dir := filepath.Join(os.TempDir(), fmt.Sprintf("semcache-bench-semantic-%d-%s%s", n, emb.ModelID(), corpusName))
	st, err := memory.Open(ctx, memory.Options{Dir: dir, Dimension: emb.Dimension()})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	const ns = "key:bench"
	mkReq := func(prompt string) (*chat.Request, []byte) {
		body, _ := json.Marshal(map[string]any{"model": "sim-gpt", "messages": []map[string]string{{"role": "user", "content": prompt}}})
		r, err := chat.ParseRequest(body, wire.PromptLastMessage)
		if err != nil {
			b.Fatal(err)
		}
		return r, body
	}
	r0, _ := mkReq(prompt(0))
	partition := r0.Partition(ns)
	have, err := st.Count(ctx, vectorstore.Filter{Namespace: ns})
	if err != nil {
		b.Fatal(err)
	}
	if have < n {
		start := time.Now()
		for lo := have; lo < n; lo += 1000 {
			hi := min(lo+1000, n)
			texts := make([]string, 0, hi-lo)
			for i := lo; i < hi; i++ {
				texts = append(texts, prompt(i))
			}
			vecs, err := emb.Embed(ctx, texts)
			if err != nil {
				b.Fatal(err)
			}
			recs := make([]vectorstore.Record, len(texts))
			for j, text := range texts {
				r, _ := mkReq(text)
				k := r.Key(ns)
				payload, _ := cache.MarshalEntry(&cache.Entry{ID: k.EntryID(), Key: k.String(), Namespace: ns, Partition: partition,
					Prompt: text, RequestModel: "sim-gpt", CreatedAt: time.Now(),
					Answer: (&chat.Answer{Model: "sim-gpt", Payload: chat.Payload{Role: "assistant", Content: "Answer to " + text, FinishReason: "stop"}}).Cache()})
				recs[j] = vectorstore.Record{ID: k.String(), Vector: vecs[j], Namespace: ns, Partition: partition, Payload: payload}
			}
			if err := st.Upsert(ctx, recs); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("built %d entries in %v", n-have, time.Since(start))
	}

	wctx, cancel := context.WithTimeout(ctx, time.Hour)
	if err := st.WaitIndexed(wctx); err != nil {
		b.Fatal(err)
	}
	cancel()
	idx := &timedIndex{Index: st}
	sem, err := simtier.Options(simtier.Config{Embedder: emb, Index: idx, Kind: kind, TopK: 5})
	if err != nil {
		b.Fatal(err)
	}
	c, err := cache.Open(cache.Options{Semantic: &sem})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	nsr, _ := engine.NewNamespacer(nil, ns)
	eng, err := engine.New(engine.Options{Cache: c, Namespaces: nsr, Metrics: engine.NewMetrics(prometheus.NewRegistry(), 10, nil)})
	if err != nil {
		b.Fatal(err)
	}
	u, _ := url.Parse("http://127.0.0.1:1/v1")
	srv, err := NewServer(ServerOptions{Engine: eng, Upstream: u})
	if err != nil {
		b.Fatal(err)
	}
	// Queries: stored prompts re-worded (lower case, no punctuation), so
	// they miss the exact tier and must be found by similarity.
	const queries = 2000
	bodies := make([][]byte, queries)
	rnd := rand.New(rand.NewPCG(2, 2))
	query := func(i int) []byte {
		p := prompt(i % n)
		if corpus != nil {
			p = corpus.Perturb(p, rnd)
		} else {
			p = strings.NewReplacer("?", "", ".", "", "(", "", ")", "").Replace(strings.ToLower(p))
		}
		_, body := mkReq(p)
		return body
	}
	for i := range bodies {
		bodies[i] = query(i * 7919)
	}
	// SEMCACHE_BENCH_WARMUP=N first sends N other queries, unmeasured: a
	// store that has been serving has the records its re-rank reads
	// mapped; a fresh process takes a page fault on each first read.
	warm, _ := strconv.Atoi(os.Getenv("SEMCACHE_BENCH_WARMUP"))
	for i := range warm {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(query(i*7919+4999)))
		srv.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
	}
	lat := make(latencies, 0, 1<<16)
	hitLat := make([]time.Duration, 0, 1<<16)
	// The hits' time outside the store's Search (parse, embedding,
	// verifier, rendering): what a hit costs on top of the store at any
	// size (add vectorstore/memory's BenchmarkScaleServe figures).
	restLat := make([]time.Duration, 0, 1<<16)
	// The process's CPU time per hit: on a shared machine wall time
	// includes waiting for a core; a sequential request's CPU time is
	// what it costs when it is not preempted (GC and background work
	// included).
	cpuLat := make([]time.Duration, 0, 1<<16)
	hits := 0
	i := 0
	b.ResetTimer()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(bodies[i%queries]))
		w := httptest.NewRecorder()
		idx.took = 0
		cpu0 := processCPU()
		start := time.Now()
		srv.ServeHTTP(w, req.WithContext(ctx))
		took := time.Since(start)
		cpu := processCPU() - cpu0
		lat = append(lat, took)
		if w.Header().Get("X-Semcache") == "hit-semantic" {
			hits++
			hitLat = append(hitLat, took)
			restLat = append(restLat, took-idx.took)
			cpuLat = append(cpuLat, cpu)
		}
		i++
	}
	b.StopTimer()
	lat.report(b)
	b.ReportMetric(float64(hits)/float64(i), "hit-ratio")
	// The hits alone: the misses (a rejected candidate, then a failed
	// upstream call) cost something else.
	if len(hitLat) > 0 {
		slices.Sort(hitLat)
		b.ReportMetric(float64(hitLat[len(hitLat)/2].Microseconds()), "hit-p50-µs")
		b.ReportMetric(float64(hitLat[len(hitLat)*99/100].Microseconds()), "hit-p99-µs")
		slices.Sort(cpuLat)
		b.ReportMetric(float64(cpuLat[len(cpuLat)/2].Microseconds()), "hit-cpu-p50-µs")
		b.ReportMetric(float64(cpuLat[len(cpuLat)*99/100].Microseconds()), "hit-cpu-p99-µs")
		slices.Sort(restLat)
		b.ReportMetric(float64(restLat[len(restLat)/2].Microseconds()), "hit-outside-store-p50-µs")
		b.ReportMetric(float64(restLat[len(restLat)*99/100].Microseconds()), "hit-outside-store-p99-µs")
	}
	if hits == 0 {
		b.Fatal("no semantic hits")
	}
}

// processCPU is the process's CPU time (user and system, all threads).
func processCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// timedIndex adds up the time spent in Search (the benchmark is
// sequential).
type timedIndex struct {
	cache.Index
	took time.Duration
}

func (t *timedIndex) Search(ctx context.Context, q vectorstore.Query) ([]vectorstore.Hit, error) {
	start := time.Now()
	hits, err := t.Index.Search(ctx, q)
	t.took += time.Since(start)
	return hits, err
}

// embedder is what the benchmark needs from an embedder.
type embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	ModelID() string
}
