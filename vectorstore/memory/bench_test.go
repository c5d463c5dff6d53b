package memory

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/semcache/semcache/vectorstore"
)

// The acceptance targets: 100k random 384-d unit vectors in one
// (namespace, partition) group, recall@10 >= 0.95 against brute force,
// search p50 <= 1 ms. Random data is the hard case for HNSW (no cluster
// structure, high intrinsic dimension); real embeddings do better.
//
//	SEMCACHE_LONG=1 go test -run 'TestAcceptance' -v -timeout 30m ./vectorstore/memory/
//	go test -run '^$' -bench Search100k -benchtime 2000x ./vectorstore/memory/
//	go test -run '^$' -bench Open100k -benchtime 3x ./vectorstore/memory/
//	SEMCACHE_LONG=1 SEMCACHE_CMP_N=5000 go test -run TestCompareCoderHNSW -v ./vectorstore/memory/
//
// SEMCACHE_BENCH_N overrides the record count and SEMCACHE_BENCH_M,
// _EFC, _EFS the tuning (for quick exploration).
//
// These are synthetic vectors; the realistic scale benchmarks (lexical
// and USE-lite embeddings of prompt texts, up to a million records) are in
// scale_test.go, and the figures in README.md.

const (
	benchDim     = 384
	benchQueries = 200
)

func benchN() int {
	if n, err := strconv.Atoi(os.Getenv("SEMCACHE_BENCH_N")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

func longEnabled(t testing.TB) {
	if testing.Short() || os.Getenv("SEMCACHE_LONG") != "1" {
		t.Skip("set SEMCACHE_LONG=1 (and no -short) to run the 100k acceptance runs")
	}
}

// benchOptions reads tuning overrides from the environment so the
// trade-off can be explored without editing code.
func benchOptions() Options {
	o := Options{Dimension: benchDim, Logger: quiet}
	for env, dst := range map[string]*int{
		"SEMCACHE_BENCH_M": &o.M, "SEMCACHE_BENCH_EFC": &o.EfConstruction, "SEMCACHE_BENCH_EFS": &o.EfSearch,
	} {
		if v, err := strconv.Atoi(os.Getenv(env)); err == nil {
			*dst = v
		}
	}
	return o
}

type fixture struct {
	vs, queries [][]float32
	store       *Store
	build       time.Duration
	heap        uint64 // bytes retained by the store
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// lowDimUnit returns n unit vectors of dim lying near a random 32-d
// subspace: a stand-in for text embeddings, whose intrinsic dimension is
// far below their length (unlike uniformly random vectors).
func lowDimUnit(seed uint64, n, dim int) [][]float32 {
	const sub = 32
	basis := randomUnit(seed, sub, dim)
	noise := randomUnit(seed+1, n, dim)
	coef := randomUnit(seed+2, n, sub)
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, dim)
		for j, c := range coef[i] {
			for d := range v {
				v[d] += c * basis[j][d]
			}
		}
		var ss float64
		for d := range v {
			v[d] += 0.05 * noise[i][d]
			ss += float64(v[d]) * float64(v[d])
		}
		inv := float32(1 / math.Sqrt(ss))
		for d := range v {
			v[d] *= inv
		}
		out[i] = v
	}
	return out
}

func buildFixture(n int, o Options) (*fixture, error) {
	f := &fixture{vs: randomUnit(100, n, benchDim), queries: randomUnit(101, benchQueries, benchDim)}
	return f, f.load(o)
}

func (f *fixture) load(o Options) error {
	n := len(f.vs)
	before := heapInUse()
	s, err := Open(context.Background(), o)
	if err != nil {
		return err
	}
	start := time.Now()
	recs := recordsOf(f.vs, "ns", "p", 0)
	for i := 0; i < n; i += 1000 {
		if err := s.Upsert(context.Background(), recs[i:min(i+1000, n)]); err != nil {
			return err
		}
	}
	f.build = time.Since(start)
	f.store = s
	f.heap = heapInUse() - before
	return nil
}

// sharedFixture is built once per test binary: benchmarks run their body
// several times and a 100k build takes a while.
var sharedFixture = sync.OnceValues(func() (*fixture, error) {
	return buildFixture(benchN(), benchOptions())
})

// latencies runs every query k at a time and returns sorted durations.
func latencies(tb testing.TB, s *Store, queries [][]float32, k, rounds int) []time.Duration {
	tb.Helper()
	var out []time.Duration
	f := vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p")}
	for range rounds {
		for _, q := range queries {
			start := time.Now()
			if _, err := s.Search(context.Background(), vectorstore.Query{Vector: q, K: k, MinScore: -1, Filter: f}); err != nil {
				tb.Fatal(err)
			}
			out = append(out, time.Since(start))
		}
	}
	slices.Sort(out)
	return out
}

func pct(ds []time.Duration, p float64) time.Duration { return ds[int(p*float64(len(ds)-1))] }

// TestAcceptance100k reports build time, memory, recall@10 and search
// latency for 100k random 384-d vectors, and fails below recall 0.95.
func TestAcceptance100k(t *testing.T) {
	longEnabled(t)
	f, err := sharedFixture()
	if err != nil {
		t.Fatal(err)
	}
	n := len(f.vs)
	t.Logf("n=%d dim=%d M=%d efC=%d efS=%d", n, benchDim, f.store.opts.M, f.store.opts.EfConstruction, f.store.opts.EfSearch)
	t.Logf("build: %v (%.0f inserts/s), retained heap %.1f MiB (vectors alone %.1f MiB)",
		f.build.Round(time.Millisecond), float64(n)/f.build.Seconds(), float64(f.heap)/(1<<20), float64(n*benchDim*4)/(1<<20))
	filter := vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p")}
	for _, k := range []int{10, 5} {
		rc := recallAt(t, f.store, f.vs, f.queries, nil, k, filter)
		lat := latencies(t, f.store, f.queries, k, 3)
		t.Logf("K=%d: recall@%d %.4f, latency p50 %v p99 %v", k, k, rc, pct(lat, 0.5), pct(lat, 0.99))
		if k == 10 && rc < 0.95 {
			t.Errorf("recall@10 = %.4f, want >= 0.95", rc)
		}
	}
	// The efSearch trade-off on the same graph.
	for _, ef := range []int{40, 80, 120, 160, 240, 320} {
		f.store.opts.EfSearch = ef
		rc := recallAt(t, f.store, f.vs, f.queries, nil, 10, filter)
		lat := latencies(t, f.store, f.queries, 10, 2)
		t.Logf("efSearch=%d: recall@10 %.4f, p50 %v, p99 %v", ef, rc, pct(lat, 0.5), pct(lat, 0.99))
	}
	f.store.opts.EfSearch = benchOptions().EfSearch
	if f.store.opts.EfSearch == 0 {
		f.store.opts.EfSearch = DefaultEfSearch
	}
	// Which path served, and what the graph walk alone achieves.
	gr := f.store.spaces["ns"]["p"]
	t.Logf("walk touches %d rows per search (%.1f%% of the group): auto path = %s",
		gr.walkCost.Load(), 100*float64(gr.walkCost.Load())/float64(n), map[bool]string{true: "scan", false: "graph"}[gr.walkCost.Load()*walkRowCost > int64(n)*scanRowCost])
	for _, path := range []searchPath{pathGraph, pathScan} {
		f.store.path = path
		rc := recallAt(t, f.store, f.vs, f.queries, nil, 10, filter)
		lat := latencies(t, f.store, f.queries, 10, 2)
		t.Logf("forced %s: recall@10 %.4f, p50 %v, p99 %v", map[searchPath]string{pathGraph: "graph walk", pathScan: "code scan"}[path], rc, pct(lat, 0.5), pct(lat, 0.99))
	}
	f.store.path = pathAuto
}

// TestAcceptanceLowDim100k is the same measurement on embedding-like data
// (low intrinsic dimension), where the graph walk is the path taken.
func TestAcceptanceLowDim100k(t *testing.T) {
	longEnabled(t)
	n := benchN()
	f := &fixture{vs: lowDimUnit(300, n, benchDim), queries: lowDimUnit(300, n+benchQueries, benchDim)[n:]}
	if err := f.load(benchOptions()); err != nil {
		t.Fatal(err)
	}
	defer f.store.Close()
	t.Logf("build: %v, retained heap %.1f MiB", f.build.Round(time.Millisecond), float64(f.heap)/(1<<20))
	filter := vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p")}
	for _, path := range []searchPath{pathAuto, pathGraph, pathScan} {
		f.store.path = path
		rc := recallAt(t, f.store, f.vs, f.queries, nil, 10, filter)
		lat := latencies(t, f.store, f.queries, 10, 3)
		gr := f.store.spaces["ns"]["p"]
		t.Logf("path %d: recall@10 %.4f, p50 %v, p99 %v (walk touches %d rows)", path, rc, pct(lat, 0.5), pct(lat, 0.99), gr.walkCost.Load())
		if path == pathAuto && rc < 0.95 {
			t.Errorf("recall@10 = %.4f, want >= 0.95", rc)
		}
	}
}

// BenchmarkSearch100k is one K=10 search in a 100k group; it reports p50
// and p99 latency and recall@10 alongside ns/op. Sub-benchmarks: auto (the
// store's choice), and each path forced.
func BenchmarkSearch100k(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a 100k index")
	}
	f, err := sharedFixture()
	if err != nil {
		b.Fatal(err)
	}
	filter := vectorstore.Filter{Namespace: "ns", Partition: vectorstore.PartitionOf("p")}
	for _, bc := range []struct {
		name string
		path searchPath
	}{{"auto", pathAuto}, {"scan", pathScan}, {"walk", pathGraph}} {
		b.Run(bc.name, func(b *testing.B) {
			f.store.path = bc.path
			defer func() { f.store.path = pathAuto }()
			lat := make([]time.Duration, 0, b.N)
			i := 0
			for b.Loop() {
				q := f.queries[i%len(f.queries)]
				i++
				start := time.Now()
				if _, err := f.store.Search(context.Background(), vectorstore.Query{Vector: q, K: 10, MinScore: -1, Filter: filter}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(pct(lat, 0.5).Microseconds()), "p50-µs")
			b.ReportMetric(float64(pct(lat, 0.99).Microseconds()), "p99-µs")
			b.ReportMetric(recallAt(b, f.store, f.vs, f.queries, nil, 10, filter), "recall@10")
			b.ReportMetric(f.build.Seconds(), "build-s")
			b.ReportMetric(float64(f.heap)/(1<<20), "heap-MiB")
		})
	}
}

// BenchmarkOpen100k measures Open over a directory holding 100k persisted
// records with a snapshot (the normal restart), and reports the first
// open without one (every record read, graph built in the background) as
// open-nosnap-s and the time until its graph was built as
// indexed-nosnap-s.
func BenchmarkOpen100k(b *testing.B) {
	if testing.Short() {
		b.Skip("persists 100k records")
	}
	dir := b.TempDir()
	o := benchOptions()
	o.Dir = dir
	f := &fixture{vs: randomUnit(100, benchN(), benchDim)}
	s, err := Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	// Write without a graph (exact threshold above n), then drop the
	// snapshot Close writes, so that the next open reads every record.
	s.opts.ExactThreshold = len(f.vs) + 1
	upsertAll(b, s, recordsOf(f.vs, "ns", "p", 0))
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, snapFile)); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s, err = Open(context.Background(), o)
	if err != nil {
		b.Fatal(err)
	}
	noSnap := time.Since(start)
	if !s.loadInfo.fullScan || s.loadInfo.pending != len(f.vs) {
		b.Fatalf("first open: %+v", s.loadInfo)
	}
	// The graph builds in the background (searches scan meanwhile); its
	// completion writes the snapshot.
	if err := s.WaitIndexed(context.Background()); err != nil {
		b.Fatal(err)
	}
	indexed := time.Since(start)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if s.loadInfo.fromSnapshot != len(f.vs) || s.loadInfo.fullScan {
			b.Fatalf("open did not use the snapshot: %+v", s.loadInfo)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(noSnap.Seconds(), "open-nosnap-s")
	b.ReportMetric(indexed.Seconds(), "indexed-nosnap-s")
}
