package cache

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync/atomic"
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
