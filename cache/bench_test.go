package cache

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func BenchmarkExactLookup(b *testing.B) {
	c, err := Open(Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	l := Lookup{Namespace: "ns", Endpoint: "chat", Model: "m", Key: []byte(strings.Repeat("canonical request ", 60))}
	c.Put(l, Answer{Endpoint: "chat", Model: "m", Text: strings.Repeat("word ", 200)}, nil, 0, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if res := c.Get(ctx, l); res.Tier != TierExact {
			b.Fatal("miss")
		}
	}
}

// BenchmarkWriteBack measures the write-back's throughput: answers handed
// to Put by 32 goroutines until all are on disk (one bbolt transaction per
// batch) and in the similarity tier (one upsert per batch). It reports
// answers per second and how many were dropped (the target is 0).
func BenchmarkWriteBack(b *testing.B) {
	emb := &bagEmbedder{}
	c, err := Open(Options{Dir: b.TempDir(), Semantic: &SemanticOptions{Embedder: emb, Index: &bruteIndex{}, Threshold: 0.7}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	text := strings.Repeat("word ", 200)
	vec, _ := emb.Embed(context.Background(), []string{"x"})
	var n atomic.Int64
	start := time.Now()
	b.SetParallelism(32 / max(1, runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			l := Lookup{Namespace: "ns", Endpoint: "chat", Model: "m", Key: []byte(fmt.Sprintf("request %d", i)),
				Prompt: fmt.Sprintf("question %d", i), Partition: []byte("m")}
			c.Put(l, Answer{Endpoint: "chat", Model: "m", Text: text}, vec[0], 0, nil)
		}
	})
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	s := c.Stats()
	b.ReportMetric(float64(s.Written)/time.Since(start).Seconds(), "answers/s")
	b.ReportMetric(float64(s.Dropped), "dropped")
}

// BenchmarkWriteBackPaced measures the write-back's CPU per answer at a
// steady miss rate (by default the shape of semcache-bench compare's c=32
// phase, about 4,000 misses per second; SEMCACHE_BENCH_RATE sets another),
// not flooded: batches form as they do in service. It reports the
// process's CPU time (user+system, all threads, from getrusage) per
// answer, the Put and the pacing included (the memory-only run is that
// floor).
func BenchmarkWriteBackPaced(b *testing.B) {
	for _, disk := range []bool{false, true} {
		b.Run(map[bool]string{false: "memory", true: "disk"}[disk], func(b *testing.B) { benchWriteBackPaced(b, disk) })
	}
}

func benchWriteBackPaced(b *testing.B, disk bool) {
	o := Options{}
	if disk {
		o.Dir = b.TempDir()
	}
	c, err := Open(o)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	text := strings.Repeat("word ", 120)
	rate := 4000 // answers per second
	if v := os.Getenv("SEMCACHE_BENCH_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			b.Fatalf("SEMCACHE_BENCH_RATE=%q: want a positive number of answers per second", v)
		}
		rate = n
	}
	tick := time.Second / time.Duration(rate)
	cpu0 := processCPU()
	start := time.Now()
	i := 0
	for b.Loop() {
		i++
		l := Lookup{Namespace: "ns", Endpoint: "chat", Model: "m", Key: fmt.Appendf(nil, "request %d", i),
			Prompt: fmt.Sprintf("question %d about something", i)}
		c.Put(l, Answer{Endpoint: "chat", Model: "m", Text: text, Payload: []byte(`{"role":"assistant","finish_reason":"stop"}`)}, nil, 0, nil)
		if d := time.Until(start.Add(time.Duration(i) * tick)); d > 0 {
			time.Sleep(d)
		}
	}
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(i), "cpu-µs/answer")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
