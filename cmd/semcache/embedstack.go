package main

import (
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

// newEmbedStack wraps inner, an embedder of the given kind.
func newEmbedStack(kind string, inner embed.Embedder) (*embedStack, error) {
	s := &embedStack{}
	var mid embed.Embedder = inner
	copts := embed.CacheOptions{}
	switch kind {
	case "use":
		b, err := embed.NewBatcher(inner, embed.BatchOptions{})
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
