package memory

import (
	"bufio"
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/semcache/semcache/bench/textgen"
	"github.com/semcache/semcache/embed"
	"github.com/semcache/semcache/embed/lexical"
	"github.com/semcache/semcache/embed/use"
	"github.com/semcache/semcache/vectorstore"
)

// Scale benchmarks on realistic vectors: lexical 512-d embeddings of
// question and statement texts (bench/testdata and the shared pair files,
// then recombinations of their sentences up to N distinct texts), one
// (namespace, partition) group, records carrying a 2.7 KB payload like an
// encoded cache entry. Queries are stored texts with a word dropped or
// replaced; their true nearest neighbour is found by brute force. Two
// phases, each its own process so that the second measures a restart:
//
//	# build: generate, embed, brute-force the truth, write the store
//	SEMCACHE_SCALE_DIR=/tmp/sc1m SEMCACHE_SCALE_N=1000000 nice -n 10 \
//	  go test -run '^$' -bench ScaleBuild -benchtime 1x -timeout 3h ./vectorstore/memory/
//	# serve: reopen (time to Ready), resident size, latency and recall
//	SEMCACHE_SCALE_DIR=/tmp/sc1m nice -n 10 \
//	  go test -run '^$' -bench ScaleServe -benchtime 1x -timeout 1h ./vectorstore/memory/
//
// Search settings are chosen on the build's queries (queries.bin) and
// reported on a held-out set from another seed:
//
//	SEMCACHE_SCALE_DIR=/tmp/sc1m go test -run '^$' -bench ScaleQueries -benchtime 1x ./vectorstore/memory/
//	SEMCACHE_SCALE_DIR=/tmp/sc1m SEMCACHE_SCALE_QUERIES=queries-heldout.bin \
//	  go test -run '^$' -bench ScaleServe -benchtime 1x ./vectorstore/memory/
//
// SEMCACHE_SCALE_SETS=4:queries-tune2.bin,5:queries-heldout2.bin has
// BenchmarkScaleQueries write several sets (seed:file) in one run.
// SEMCACHE_SCALE_EF_SWEEP=64,96,192,256 adds forced walks at those
// EfSearch values to the serve phase; -v shows the build's progress as it
// goes. vectorstore/memory/README.md has the figures they printed.
// SEMCACHE_SCALE_EMBEDDER=use embeds with USE-lite instead (512-d too;
// SEMCACHE_MODEL_DIR must point at the model). SEMCACHE_SCALE_SOURCES lists the text files (comma-separated; default
// bench/testdata/{distractors.txt,questions.jsonl,pairs.jsonl} and
// /work/shared/data/*.jsonl when present). SEMCACHE_SCALE_Q sets the
// number of queries (default 1000); see scaleOptions for the tuning.
// Both skip unless SEMCACHE_SCALE_DIR is set; nothing runs in go test.

const (
	scaleDim     = 512
	scalePayload = 2700
	scaleNS      = "tenant"
	scalePart    = "p"
)

func scaleDir(b *testing.B) string {
	dir := os.Getenv("SEMCACHE_SCALE_DIR")
	if dir == "" {
		b.Skip("set SEMCACHE_SCALE_DIR (see scale_test.go)")
	}
	return dir
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

func scaleSources() []string {
	if v := os.Getenv("SEMCACHE_SCALE_SOURCES"); v != "" {
		return strings.Split(v, ",")
	}
	return textgen.Sources("vectorstore/memory")
}

// scaleEmbedder is lexical 512-d, or USE-lite (also 512-d) with
// SEMCACHE_SCALE_EMBEDDER=use and SEMCACHE_MODEL_DIR set.
func scaleEmbedder() (embed.Embedder, error) {
	if os.Getenv("SEMCACHE_SCALE_EMBEDDER") == "use" {
		return use.Load(os.Getenv("SEMCACHE_MODEL_DIR"))
	}
	return lexical.New(lexical.Options{Dimension: scaleDim})
}

// scaleOptions are the store options of both phases; SEMCACHE_SCALE_M,
// _EFC and _EFS override the graph's tuning (M and EfConstruction must be
// the same in both, or the snapshot is not used).
func scaleOptions(dir string) Options {
	return Options{
		Dir: filepath.Join(dir, "store"), Dimension: scaleDim, Logger: quiet,
		M: envInt("SEMCACHE_SCALE_M", 0), EfConstruction: envInt("SEMCACHE_SCALE_EFC", 0), EfSearch: envInt("SEMCACHE_SCALE_EFS", 0),
	}
}

// scalePayloadOf is a deterministic stand-in for an encoded cache entry.
func scalePayloadOf(i int, text string) []byte {
	p := make([]byte, 0, scalePayload)
	p = fmt.Appendf(p, `{"key":%d,"prompt":%q,"answer":"`, i, text)
	for len(p) < scalePayload-2 {
		p = append(p, "lorem ipsum dolor sit amet "...)
	}
	return append(p[:scalePayload-2], '"', '}')
}

func scaleID(i int) string { return fmt.Sprintf("%064x", uint64(i)*0x9e3779b97f4a7c15) }

// scaleTruth is a query with its brute-force nearest neighbour.
type scaleTruth struct {
	vec   []float32
	best  int
	score float32
}

// BenchmarkScaleBuild generates the data set and writes the store.
func BenchmarkScaleBuild(b *testing.B) {
	dir := scaleDir(b)
	n := envInt("SEMCACHE_SCALE_N", 1_000_000)
	nq := envInt("SEMCACHE_SCALE_Q", 1000)
	for b.Loop() {
		if err := os.RemoveAll(filepath.Join(dir, "store")); err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(dir, 0o750); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		corpus, emb, texts, vs := scaleData(b, n)
		b.Logf("%d sentences in the corpus; %d texts generated and embedded in %v", len(corpus.Sentences), n, time.Since(start).Round(time.Millisecond))

		// Queries: perturbed stored texts, truth by brute force (kept from
		// an earlier build of the same N with SEMCACHE_SCALE_KEEP_TRUTH=1:
		// texts and vectors are deterministic).
		truthFile := filepath.Join(dir, "queries.bin")
		if _, err := os.Stat(truthFile); err == nil && os.Getenv("SEMCACHE_SCALE_KEEP_TRUTH") == "1" {
			b.Logf("keeping %s", truthFile)
		} else if err := scaleQueries(b, corpus, emb, texts, vs, nq, truthFile, 2); err != nil {
			b.Fatal(err)
		}

		// The store: upserts in batches of 1000 (each one commit).
		s, err := Open(context.Background(), scaleOptions(dir))
		if err != nil {
			b.Fatal(err)
		}
		start = time.Now()
		const batch = 1000
		recs := make([]vectorstore.Record, 0, batch)
		for i := 0; i < n; i += batch {
			recs = recs[:0]
			for j := i; j < min(i+batch, n); j++ {
				recs = append(recs, vectorstore.Record{ID: scaleID(j), Vector: vs[j], Namespace: scaleNS, Partition: scalePart,
					Payload: scalePayloadOf(j, texts[j])})
			}
			if err := s.Upsert(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
			if i > 0 && i%(100*batch) == 0 {
				b.Logf("  %d upserted, %v", i, time.Since(start).Round(time.Second))
			}
		}
		upserts := time.Since(start)
		if err := s.WaitIndexed(context.Background()); err != nil {
			b.Fatal(err)
		}
		indexed := time.Since(start)
		closeStart := time.Now()
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.Logf("store: upserts %v (%.0f/s), indexed after %v, Close (snapshot) %v",
			upserts.Round(time.Millisecond), float64(n)/upserts.Seconds(), indexed.Round(time.Millisecond), time.Since(closeStart).Round(time.Millisecond))
		b.ReportMetric(upserts.Seconds(), "upserts-s")
		b.ReportMetric(indexed.Seconds(), "indexed-s")
	}
}

// BenchmarkScaleQueries writes a second query set for the store
// BenchmarkScaleBuild wrote (same N and sources: texts and vectors are
// deterministic), from another seed, to queries-heldout.bin. The search
// settings are chosen on queries.bin and reported on this one
// (SEMCACHE_SCALE_QUERIES=queries-heldout.bin in the serve phase).
func BenchmarkScaleQueries(b *testing.B) {
	dir := scaleDir(b)
	n := envInt("SEMCACHE_SCALE_N", 1_000_000)
	nq := envInt("SEMCACHE_SCALE_Q", 1000)
	// SEMCACHE_SCALE_SETS=seed:file,... writes several sets in one run
	// (the data is generated once).
	sets := cmp.Or(os.Getenv("SEMCACHE_SCALE_SETS"), "3:queries-heldout.bin")
	for b.Loop() {
		corpus, emb, texts, vs := scaleData(b, n)
		for set := range strings.SplitSeq(sets, ",") {
			seed, file, ok := strings.Cut(set, ":")
			s, err := strconv.ParseUint(seed, 10, 64)
			if !ok || err != nil || file == "" {
				b.Fatalf("SEMCACHE_SCALE_SETS: %q is not seed:file", set)
			}
			if err := scaleQueries(b, corpus, emb, texts, vs, nq, filepath.Join(dir, file), s); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// scaleData generates the n texts of the data set and embeds them (both
// deterministic).
func scaleData(b *testing.B, n int) (*textgen.Corpus, embed.Embedder, []string, [][]float32) {
	corpus, err := textgen.Load(scaleSources()...)
	if err != nil {
		b.Fatal(err)
	}
	texts := corpus.Texts(n, 1)
	emb, err := scaleEmbedder()
	if err != nil {
		b.Fatal(err)
	}
	vs := make([][]float32, n)
	for i := 0; i < n; i += 4096 {
		out, err := emb.Embed(context.Background(), texts[i:min(i+4096, n)])
		if err != nil {
			b.Fatal(err)
		}
		copy(vs[i:], out)
	}
	return corpus, emb, texts, vs
}

// scaleQueries makes nq perturbed queries, finds their true neighbours by
// brute force and writes them to path.
func scaleQueries(b *testing.B, corpus *textgen.Corpus, emb embed.Embedder, texts []string, vs [][]float32, nq int, path string, seed uint64) error {
	start := time.Now()
	r := rand.New(rand.NewPCG(seed, seed))
	qs := make([]scaleTruth, nq)
	qtexts := make([]string, nq)
	src := make([]int, nq)
	for i := range qs {
		src[i] = r.IntN(len(texts))
		qtexts[i] = corpus.Perturb(texts[src[i]], r)
	}
	qv, err := emb.Embed(context.Background(), qtexts)
	if err != nil {
		return err
	}
	bruteForce(vs, qv, qs)
	same := 0
	for i := range qs {
		if qs[i].best == src[i] {
			same++
		}
	}
	b.Logf("truth for %d queries in %v (the perturbed text's source is its nearest neighbour for %d)", nq, time.Since(start).Round(time.Millisecond), same)
	return writeTruth(path, qs)
}

// bruteForce fills each query's true nearest neighbour, in parallel.
func bruteForce(vs, qv [][]float32, out []scaleTruth) {
	var wg sync.WaitGroup
	workers := runtime.GOMAXPROCS(0)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(qv); i += workers {
				q, _ := normalize(qv[i])
				best, score := -1, float32(-2)
				for j, v := range vs {
					if d := dot(q, v); d > score {
						best, score = j, d
					}
				}
				out[i] = scaleTruth{vec: qv[i], best: best, score: score}
			}
		}()
	}
	wg.Wait()
}

func writeTruth(path string, qs []scaleTruth) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, q := range qs {
		_ = binary.Write(w, binary.LittleEndian, uint32(q.best))
		_ = binary.Write(w, binary.LittleEndian, q.score)
		_ = binary.Write(w, binary.LittleEndian, q.vec)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func readTruth(path string) ([]scaleTruth, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out []scaleTruth
	for {
		var q scaleTruth
		var best uint32
		if err := binary.Read(r, binary.LittleEndian, &best); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		q.best = int(best)
		q.vec = make([]float32, scaleDim)
		if err := binary.Read(r, binary.LittleEndian, &q.score); err != nil {
			return nil, err
		}
		if err := binary.Read(r, binary.LittleEndian, q.vec); err != nil {
			return nil, err
		}
		out = append(out, q)
	}
}

// rss reads the process's resident set from /proc/self/status.
func rss() (total, anon, file uint64) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, 0
	}
	for _, l := range strings.Split(string(data), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			total = kb << 10
		case "RssAnon:":
			anon = kb << 10
		case "RssFile:":
			file = kb << 10
		}
	}
	return total, anon, file
}

// BenchmarkScaleServe reopens the store BenchmarkScaleBuild wrote and
// measures time to Ready, resident size, search latency and recall@1.
func BenchmarkScaleServe(b *testing.B) {
	dir := scaleDir(b)
	qs, err := readTruth(filepath.Join(dir, cmp.Or(os.Getenv("SEMCACHE_SCALE_QUERIES"), "queries.bin")))
	if err != nil {
		b.Fatalf("no queries (run BenchmarkScaleBuild first): %v", err)
	}
	for b.Loop() {
		rss0, _, _ := rss()
		cpu0 := processCPU()
		start := time.Now()
		o := scaleOptions(dir)
		o.LoadInBackground = true
		s, err := Open(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		opened := time.Since(start)
		if err := s.WaitReady(context.Background()); err != nil {
			b.Fatal(err)
		}
		ready := time.Since(start)
		readyCPU := processCPU() - cpu0
		if err := s.WaitIndexed(context.Background()); err != nil {
			b.Fatal(err)
		}
		indexed := time.Since(start)
		runtime.GC()
		debug.FreeOSMemory()
		total, anon, file := rss()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		n := s.loadInfo.records
		b.Logf("Open returned in %v, Ready after %v (process CPU %v), indexed after %v; %+v", opened.Round(time.Microsecond), ready.Round(time.Millisecond),
			readyCPU.Round(time.Millisecond), indexed.Round(time.Millisecond), s.loadInfo)
		b.Logf("RSS %.0f MiB (anon %.0f, file %.0f; %.0f before Open), Go heap %.0f MiB: %.0f bytes resident per record",
			mib(total), mib(anon), mib(file), mib(rss0), mib(ms.HeapAlloc), float64(total-rss0)/float64(n))

		f := vectorstore.Filter{Namespace: scaleNS, Partition: vectorstore.PartitionOf(scalePart)}
		measure := func(label string, rounds int) {
			// Wall time, and the thread's CPU time (this machine is shared:
			// CPU time is what a query costs when it is not preempted).
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			var lat, cpu []time.Duration
			hits := 0
			for round := range rounds {
				for _, q := range qs {
					c0 := threadCPU()
					t0 := time.Now()
					res, err := s.Search(context.Background(), vectorstore.Query{Vector: q.vec, K: 5, MinScore: -1, Filter: f})
					lat = append(lat, time.Since(t0))
					cpu = append(cpu, threadCPU()-c0)
					if err != nil {
						b.Fatal(err)
					}
					if round == 0 && len(res) > 0 && (res[0].Record.ID == scaleID(q.best) || res[0].Score >= q.score-1e-6) {
						hits++
					}
				}
			}
			slices.Sort(lat)
			slices.Sort(cpu)
			b.Logf("%s: K=5 wall p50 %v p90 %v p99 %v max %v; thread CPU p50 %v p99 %v; recall@1 %.4f (%d queries)", label,
				pct(lat, 0.5).Round(time.Microsecond), pct(lat, 0.9).Round(time.Microsecond), pct(lat, 0.99).Round(time.Microsecond),
				lat[len(lat)-1].Round(time.Microsecond), pct(cpu, 0.5).Round(time.Microsecond), pct(cpu, 0.99).Round(time.Microsecond),
				float64(hits)/float64(len(qs)), len(qs))
			if label == "auto" {
				b.ReportMetric(float64(pct(lat, 0.5).Microseconds()), "p50-µs")
				b.ReportMetric(float64(pct(lat, 0.99).Microseconds()), "p99-µs")
				b.ReportMetric(float64(pct(cpu, 0.5).Microseconds()), "cpu-p50-µs")
				b.ReportMetric(float64(pct(cpu, 0.99).Microseconds()), "cpu-p99-µs")
				b.ReportMetric(float64(hits)/float64(len(qs)), "recall@1")
			}
		}
		measure("warm-up", 1)
		measure("auto", 3)
		// bbolt's memory map: the file pages the searches touched count
		// in RSS (RssFile) until the kernel reclaims them.
		total2, anon2, file2 := rss()
		var ms2 runtime.MemStats
		runtime.ReadMemStats(&ms2)
		b.Logf("RSS after %d searches: %.0f MiB (anon %.0f, file %.0f); Go heap %.0f MiB in use, next GC at %.0f MiB",
			4*len(qs), mib(total2), mib(anon2), mib(file2), mib(ms2.HeapInuse), mib(ms2.NextGC))
		gr := s.spaces[scaleNS][scalePart]
		b.Logf("walk touches %d rows per search (%.2f%% of %d); walk recall estimate %d per mille",
			gr.walkCost.Load(), 100*float64(gr.walkCost.Load())/float64(gr.slots()), gr.slots(), gr.walkRecall.Load())
		s.path = pathGraph
		measure("forced graph walk", 1)
		// SEMCACHE_SCALE_EF_SWEEP=64,128,256: the walk at other beam
		// widths (same graph).
		if sweep := os.Getenv("SEMCACHE_SCALE_EF_SWEEP"); sweep != "" {
			def := s.opts.EfSearch
			for _, f := range strings.Split(sweep, ",") {
				if ef, err := strconv.Atoi(f); err == nil && ef > 0 {
					s.opts.EfSearch = ef
					measure(fmt.Sprintf("forced graph walk, EfSearch %d", ef), 1)
				}
			}
			s.opts.EfSearch = def
		}
		s.path = pathAuto
		if os.Getenv("SEMCACHE_SCALE_SCAN") == "1" {
			s.path = pathScan
			measure("forced code scan", 1)
			s.path = pathAuto
		}
		b.ReportMetric(ready.Seconds(), "ready-s")
		b.ReportMetric(readyCPU.Seconds(), "ready-cpu-s")
		b.ReportMetric(mib(total), "rss-MiB")
		b.ReportMetric(float64(total-rss0)/float64(n), "B/record")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
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

// threadCPU is the calling thread's CPU time (user and system).
func threadCPU() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
