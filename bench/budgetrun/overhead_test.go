package budgetrun

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/cache/budget"
)

// BenchmarkLearnerOverhead is the learner's overhead on a semantic hit of
// a budgeted namespace, as the engine pays it: the entry's state read from
// the cache's store (from the bbolt disk tier the first time after a
// restart: "cold", from memory after: "warm"), the namespace's fit, the
// decision. It reports p50 and p99 of each. Run it with -benchtime 40000x
// (or more) to have both: the first 20,000 decisions are cold.
func BenchmarkLearnerOverhead(b *testing.B) {
	const entries = 20_000
	dir := b.TempDir()
	c, err := cache.Open(cache.Options{MaxBytes: 1 << 26, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	keys := make([]string, entries)
	for i := range keys {
		l := cache.Lookup{Namespace: "ns", Endpoint: "chat", Model: "m", Key: fmt.Appendf(nil, `{"q":%d}`, i), Prompt: fmt.Sprint("question ", i), Partition: []byte(`{"model":"m"}`)}
		keys[i] = c.Put(l, cache.Answer{Endpoint: "chat", Model: "m", Text: "a", Payload: []byte(`{"content":"a"}`)}, nil, 0, nil).Key
	}
	if err := c.Flush(context.Background()); err != nil {
		b.Fatal(err)
	}
	l, err := budget.New(budget.Options{Default: 0.05, Store: c.BudgetStore()})
	if err != nil {
		b.Fatal(err)
	}
	for i, k := range keys {
		for j := range 4 {
			cand := budget.Candidate{Namespace: "ns", Entry: k, Kind: "request", Score: 0.99 + 0.002*float32(j)}
			l.Decide(cand)
			l.Record(budget.Observation{Candidate: cand, Wrong: (i+j)%17 == 0, Source: budget.SourceMiss, Weight: 1})
		}
	}
	if err := l.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := c.Close(); err != nil {
		b.Fatal(err)
	}
	// A restart: the states are on disk only.
	c, err = cache.Open(cache.Options{MaxBytes: 1 << 26, Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	l, err = budget.New(budget.Options{Default: 0.05, Store: c.BudgetStore()})
	if err != nil {
		b.Fatal(err)
	}
	var cold, warm []time.Duration
	i, known := 0, 0
	for b.Loop() {
		cand := budget.Candidate{Namespace: "ns", Entry: keys[i%entries], Kind: "request", Score: 0.995}
		start := time.Now()
		l.Seen()
		dec := l.Decide(cand)
		d := time.Since(start)
		if dec.Evidence != budget.Fresh {
			known++
		}
		if i < entries {
			cold = append(cold, d)
		} else {
			warm = append(warm, d)
		}
		i++
	}
	if known == 0 {
		b.Fatal("no entry's state was read back after the restart")
	}
	for _, s := range []struct {
		name string
		d    []time.Duration
	}{{"cold", cold}, {"warm", warm}} {
		if len(s.d) == 0 {
			continue
		}
		slices.Sort(s.d)
		b.ReportMetric(float64(s.d[len(s.d)/2].Nanoseconds())/1e3, s.name+"-p50-µs")
		b.ReportMetric(float64(s.d[len(s.d)*99/100].Nanoseconds())/1e3, s.name+"-p99-µs")
	}
}
