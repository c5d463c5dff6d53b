package use

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/semcache/semcache/embed"
)

// TestBatcherSameVectors: sentences embedded through embed.Batcher by
// concurrent callers (so they share batched forward passes) get exactly
// the bits they get alone.
func TestBatcherSameVectors(t *testing.T) {
	enc := testEncoder(t)
	var g golden
	readJSON(t, "golden.json", &g)
	alone := make([][]float32, len(g.Sentences))
	for i, s := range g.Sentences {
		v, err := enc.Embed(context.Background(), []string{s})
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = v[0]
	}
	b, err := embed.NewBatcher(enc, embed.BatchOptions{MaxWait: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	errs := make(chan error, len(g.Sentences))
	for i, s := range g.Sentences {
		wg.Go(func() {
			v, err := b.Embed(context.Background(), []string{s})
			if err == nil && !equalVec(v[0], alone[i]) {
				err = fmt.Errorf("sentence %d %q: batched vector differs from its vector alone", i, s)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	st := b.Stats()
	if st.Batches >= uint64(len(g.Sentences)) {
		t.Errorf("Stats = %+v: %d concurrent callers were never batched together", st, len(g.Sentences))
	}
	t.Logf("%d sentences in %d batched calls", st.Texts, st.Batches)
}

// benchPrompts are the request mixes of BenchmarkConcurrent.
var benchPrompts = map[string][]string{
	"mix16":   batch16,              // 5–20 words, 17.6 tokens on average
	"words20": {prompt20, prompt20}, // the 20-word prompt (26 tokens) only
}

// BenchmarkConcurrent measures misses/s: c callers each embed one prompt
// per call, back to back, straight into the Encoder ("direct") or through
// embed.Batcher with its defaults ("batcher") or with one worker
// ("batcher-w1"). It reports texts/s, the p50/p99 latency of one call, the
// process CPU time per text and the mean batch size. Run it with nice on a quiet machine:
//
//	nice -n 10 go test ./embed/use -run '^$' -bench Concurrent -benchtime 3s
func BenchmarkConcurrent(b *testing.B) {
	enc := testEncoder(b)
	for _, set := range []string{"mix16", "words20"} {
		for _, mode := range []string{"direct", "batcher", "batcher-w1"} {
			for _, c := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("%s/%s/c=%d", set, mode, c), func(b *testing.B) {
					var e embed.Embedder = enc
					var bt *embed.Batcher
					if mode != "direct" {
						var o embed.BatchOptions
						if mode == "batcher-w1" {
							o.Workers = 1
						}
						var err error
						bt, err = embed.NewBatcher(enc, o)
						if err != nil {
							b.Fatal(err)
						}
						defer bt.Close()
						e = bt
					}
					runConcurrent(b, e, benchPrompts[set], c)
					if bt != nil {
						st := bt.Stats()
						b.ReportMetric(float64(st.Texts)/float64(max(st.Batches, 1)), "texts/batch")
					}
				})
			}
		}
	}
}

// runConcurrent makes b.N calls from c goroutines and reports throughput
// and latency percentiles.
func runConcurrent(b *testing.B, e embed.Embedder, prompts []string, c int) {
	ctx := context.Background()
	var next atomic.Int64
	lat := make([][]time.Duration, c)
	var wg sync.WaitGroup
	cpu := processCPU()
	b.ResetTimer()
	start := time.Now()
	for g := range c {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				t0 := time.Now()
				if _, err := e.Embed(ctx, []string{prompts[int(i)%len(prompts)]}); err != nil {
					b.Error(err)
					return
				}
				lat[g] = append(lat[g], time.Since(t0))
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		return float64(all[min(len(all)-1, int(p*float64(len(all))))]) / 1e6
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "texts/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	if cpu != 0 {
		b.ReportMetric(float64(processCPU()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
	}
}

// probe wraps an Embedder and reports when a call starts and how it ended.
type probe struct {
	embed.Embedder
	started chan struct{}
	ended   chan error
}

func (p *probe) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	p.started <- struct{}{}
	v, err := p.Embedder.Embed(ctx, texts)
	p.ended <- err
	return v, err
}

// TestCallerDeadlineStopsEncoder: through the service's composition
// (Bounded → Cached → Batcher → Encoder), a caller whose context ends
// stops the encoder's work, instead of leaving it to run detached.
func TestCallerDeadlineStopsEncoder(t *testing.T) {
	enc := testEncoder(t)
	p := &probe{Embedder: enc, started: make(chan struct{}, 1), ended: make(chan error, 1)}
	bt, err := embed.NewBatcher(p, embed.BatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer bt.Close()
	chain, err := embed.NewBounded(embed.NewCached(bt, embed.CacheOptions{}), embed.BoundOptions{})
	if err != nil {
		t.Fatal(err)
	}
	texts := make([]string, 3000)
	for i := range texts {
		texts[i] = fmt.Sprintf("prompt number %d that nobody will wait for", i)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := chain.Embed(ctx, texts)
		errc <- err
	}()
	<-p.started
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) || !errors.Is(err, embed.ErrEmbed) {
		t.Fatalf("caller: %v, want ErrEmbed and context.Canceled", err)
	}
	select {
	case err := <-p.ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("encoder call ended with %v: it finished the work instead of stopping", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("encoder call did not end")
	}
}
