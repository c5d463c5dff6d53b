package main

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/embed"
)

// embedStack is the embedder the similarity tier uses, composed around the
// configured one (see package embed):
//
//	use:     Bounded → Cached → Batcher → use.Encoder (concurrent misses share one batched forward pass)
//	lexical: Bounded → Cached → Limited → lexical.Embedder (at most GOMAXPROCS embeddings at once)
//	openai:  Bounded → Cached{FinishAbandoned} → openai (a call that every waiter left still fills the cache)
//
// Bounded clips long texts first, so the cache keys the clipped text and an
// 8 MiB prompt is hashed and embedded as 4 Ki runes; hits never wait for a
// slot or a batch.
type embedStack struct {
	top     *embed.Bounded
	cached  *embed.Cached
	batcher *embed.Batcher // use only
	limited *embed.Limited // lexical only
}

// The micro-batcher's scheduling in the service. A lone miss at an idle
// encoder starts at once; one that arrives while a batch computes waits
// for company (up to serviceBatchWait, or until a batch ends and its worker
// takes the queue) instead of starting a batch of its own on the second
// worker. The library's default (wait only while GOMAXPROCS texts compute)
// suits a process that only embeds; here the other core is busy with the
// requests' own work, and under load (semcache-bench compare, c=32) it made
// batches of 1.3 texts on average, i.e. almost no batching. Holding them
// raised the mean batch to 2.6–3.0 (its c=1 phase, all single texts,
// included) and cut semcache's CPU per miss at c=32 by about 10 %
// (2.87 → 2.48–2.58 ms, on a loaded machine).
const (
	serviceBusyTexts = 1
	serviceBatchWait = time.Millisecond
)

// newEmbedStack wraps inner, an embedder of the given kind.
func newEmbedStack(kind string, inner embed.Embedder) (*embedStack, error) {
	s := &embedStack{}
	var mid embed.Embedder = inner
	copts := embed.CacheOptions{}
	switch kind {
	case "use":
		b, err := embed.NewBatcher(inner, embed.BatchOptions{BusyTexts: serviceBusyTexts, MaxWait: serviceBatchWait})
		if err != nil {
			return nil, err
		}
		s.batcher, mid = b, b
	case "lexical":
		l, err := embed.NewLimited(inner, embed.LimitOptions{})
		if err != nil {
			return nil, err
		}
		s.limited, mid = l, l
	case "openai":
		copts.FinishAbandoned = true
	}
	s.cached = embed.NewCached(mid, copts)
	top, err := embed.NewBounded(s.cached, embed.BoundOptions{})
	if err != nil {
		s.close()
		return nil, err
	}
	s.top = top
	return s, nil
}

// close stops the batcher's dispatcher.
func (s *embedStack) close() error {
	if s.batcher != nil {
		return s.batcher.Close()
	}
	return nil
}

// embedStackCollector exposes the stack's counters as metrics.
type embedStackCollector struct{ s *embedStack }

var (
	descEmbedClipped   = prometheus.NewDesc("semcache_embed_clipped_total", "Texts clipped to their head and tail before embedding.", nil, nil)
	descEmbedCache     = prometheus.NewDesc("semcache_embed_cache_total", "Embedding cache lookups by result (hit, miss).", []string{"result"}, nil)
	descEmbedBatches   = prometheus.NewDesc("semcache_embed_batches_total", "Batched encoder calls the micro-batcher made (USE-lite).", nil, nil)
	descEmbedBatched   = prometheus.NewDesc("semcache_embed_batched_texts_total", "Texts in those batches; divided by the batches, the mean batch size.", nil, nil)
	descEmbedRefused   = prometheus.NewDesc("semcache_embed_refused_total", "Embedding calls refused or abandoned by the bound in front of the encoder, by cause (rejected, timed_out, abandoned).", []string{"cause"}, nil)
	descEmbedLimitWait = prometheus.NewDesc("semcache_embed_waited_total", "Embedding calls that waited for a free slot (lexical).", nil, nil)
)

func (c embedStackCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEmbedClipped, descEmbedCache, descEmbedBatches, descEmbedBatched, descEmbedRefused, descEmbedLimitWait} {
		ch <- d
	}
}

func (c embedStackCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.s
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(descEmbedClipped, s.top.Clipped())
	hits, misses := s.cached.Stats()
	counter(descEmbedCache, hits, "hit")
	counter(descEmbedCache, misses, "miss")
	var rejected, timedOut, abandoned, waited uint64
	if s.batcher != nil {
		st := s.batcher.Stats()
		counter(descEmbedBatches, st.Batches)
		counter(descEmbedBatched, st.Texts)
		rejected, abandoned = st.Rejected, st.Abandoned
	}
	if s.limited != nil {
		st := s.limited.Stats()
		rejected, timedOut, waited = st.Rejected, st.TimedOut, st.Waited
		counter(descEmbedLimitWait, waited)
	}
	counter(descEmbedRefused, rejected, "rejected")
	counter(descEmbedRefused, timedOut, "timed_out")
	counter(descEmbedRefused, abandoned, "abandoned")
}
