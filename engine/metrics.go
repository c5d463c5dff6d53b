package engine

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/semcache/semcache/cache"
)

// Outcomes of a request, used as metric label values.
const (
	OutcomeHitExact    = "hit_exact"
	OutcomeHitSemantic = "hit_semantic"
	// OutcomeHitPartial: some items of a batch (embeddings inputs) were
	// served from the cache, the others fetched.
	OutcomeHitPartial = "hit_partial"
	OutcomeMiss       = "miss"
	// OutcomeBypass: passed through uncached (never-cached parameters,
	// state kept upstream, or an API semcache does not cache).
	OutcomeBypass = "bypass"
	OutcomeError  = "error"
)

// DefaultMaxNamespaces bounds the namespace label (--metrics-max-namespaces).
const DefaultMaxNamespaces = 100

// Price is what a model costs, in USD per million tokens.
type Price struct {
	PromptPerMillion     float64 `yaml:"prompt_per_million"`
	CompletionPerMillion float64 `yaml:"completion_per_million"`
}

// Metrics are semcache's Prometheus metrics, registered on a registry the
// caller owns (never the global one).
type Metrics struct {
	Requests          *prometheus.CounterVec
	Items             *prometheus.CounterVec
	RequestDuration   *prometheus.HistogramVec
	LookupDuration    *prometheus.HistogramVec
	UpstreamDuration  prometheus.Histogram
	UpstreamTTFT      prometheus.Histogram
	InterToken        prometheus.Histogram
	Similarity        *prometheus.HistogramVec
	VerifierRejects   *prometheus.CounterVec
	TokensSaved       *prometheus.CounterVec
	CostSaved         *prometheus.CounterVec
	WriteBack         *prometheus.CounterVec
	Coalesced         prometheus.Counter
	UpstreamErrors    *prometheus.CounterVec
	ShadowHits        *prometheus.CounterVec
	ShadowAnswerSim   prometheus.Histogram
	RAGRetrievals     *prometheus.CounterVec
	RAGPassages       prometheus.Counter
	DegradedLookups   *prometheus.CounterVec
	SemanticSkipped   *prometheus.CounterVec
	Refused           *prometheus.CounterVec
	namespaces        *labelBound
	routes            *labelBound
	prices            atomic.Pointer[map[string]Price] // reloadable: see SetPrices
	registry          prometheus.Registerer
	spec              speculationMetrics // see speculative.go
	cacheCollectorReg sync.Once
	budget            *budgetMetrics
	budgetReg         sync.Once
	policyM           *policyMetrics // see policy_metrics.go
	policyReg         sync.Once
}

var latencyBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60,
}

// NewMetrics registers semcache's metrics on reg. maxNamespaces bounds the
// namespace label: namespaces beyond it fold into "_other".
func NewMetrics(reg prometheus.Registerer, maxNamespaces int, prices map[string]Price) *Metrics {
	if maxNamespaces <= 0 {
		maxNamespaces = DefaultMaxNamespaces
	}
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_requests_total", Help: "Requests by front (http, extproc, extauthz), route (the API: chat, responses, embeddings, …, or the first path segment of a passed-through call), namespace and outcome.",
		}, []string{"front", "route", "namespace", "outcome"}),
		Items: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_items_total", Help: "Items of batch requests (embeddings inputs) by route and outcome (hit, miss).",
		}, []string{"route", "outcome"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_request_duration_seconds", Help: "Server-side time to the end of the response, by outcome.",
			Buckets: latencyBuckets,
		}, []string{"outcome"}),
		LookupDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_lookup_duration_seconds", Help: "Cache lookup time per step (exact, embed, search).",
			Buckets: latencyBuckets,
		}, []string{"step"}),
		UpstreamDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "semcache_upstream_duration_seconds", Help: "Upstream call time to the end of the body.", Buckets: latencyBuckets,
		}),
		UpstreamTTFT: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "semcache_upstream_ttft_seconds", Help: "Upstream time to the first body byte.", Buckets: latencyBuckets,
		}),
		InterToken: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "semcache_upstream_inter_chunk_seconds", Help: "Gap between upstream stream chunks.", Buckets: latencyBuckets,
		}),
		Similarity: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "semcache_similarity_score",
			Help:    "Similarity of semantic candidates: served hits, verifier rejections and shadow hits.",
			Buckets: []float64{.5, .6, .7, .75, .8, .85, .875, .9, .925, .95, .975, .99, 1},
		}, []string{"kind"}),
		VerifierRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_verifier_rejections_total", Help: "Semantic candidates refused by the verifier, by reason.",
		}, []string{"reason"}),
		TokensSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_tokens_saved_total", Help: "Tokens not sent upstream thanks to hits (from the stored usage).",
		}, []string{"namespace", "kind"}),
		CostSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_cost_saved_usd_total", Help: "Estimated USD saved by hits, from the configured price table.",
		}, []string{"namespace"}),
		WriteBack: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_writeback_total", Help: "Upstream answers by write-back decision (stored, not_cacheable, no_store, upstream_no_store, error_status).",
		}, []string{"result"}),
		Coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "semcache_coalesced_requests_total", Help: "Requests that joined an identical in-flight upstream call.",
		}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_upstream_errors_total", Help: "Upstream failures (unreachable, broken stream).",
		}, []string{"kind"}),
		ShadowHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_shadow_hits_total", Help: "Would-be semantic hits in shadow-mode namespaces.",
		}, []string{"namespace"}),
		ShadowAnswerSim: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "semcache_shadow_answer_similarity",
			Help:    "Shadow mode: similarity of a would-be hit's cached answer to the fresh upstream answer (low values are would-be false hits).",
			Buckets: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, 1},
		}),
		RAGRetrievals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_rag_retrievals_total", Help: "RAG retrievals by outcome (injected, empty, error, off).",
		}, []string{"outcome"}),
		RAGPassages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "semcache_rag_passages_injected_total", Help: "Passages injected into prompts.",
		}),
		DegradedLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_degraded_lookups_total", Help: "Lookups that fell back to a miss because the embedder or store failed.",
		}, []string{"cause"}),
		SemanticSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_semantic_skipped_total", Help: "Lookups kept to the exact tier although the similarity tier applies, by reason (too_long: the prompt is above the tier's bound).",
		}, []string{"reason"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_refused_requests_total", Help: "Requests refused before any lookup, by reason (unauthorized, bad_path, not_allowed, overloaded).",
		}, []string{"reason"}),
		namespaces: &labelBound{max: maxNamespaces, seen: map[string]bool{}},
		routes:     &labelBound{max: maxRoutes, seen: map[string]bool{}},
		registry:   reg,
		budget:     newBudgetMetrics(),
	}
	m.SetPrices(prices)
	reg.MustRegister(m.Requests, m.Items, m.RequestDuration, m.LookupDuration, m.UpstreamDuration, m.UpstreamTTFT, m.InterToken,
		m.Similarity, m.VerifierRejects, m.TokensSaved, m.CostSaved, m.WriteBack, m.Coalesced, m.UpstreamErrors,
		m.ShadowHits, m.ShadowAnswerSim, m.RAGRetrievals, m.RAGPassages, m.DegradedLookups, m.SemanticSkipped, m.Refused)
	return m
}

// SetPrices replaces the model prices the saved cost is computed with;
// safe while serving.
func (m *Metrics) SetPrices(prices map[string]Price) {
	m.prices.Store(&prices)
}

// PreRegisterReasons makes every verifier reason visible at zero.
func (m *Metrics) PreRegisterReasons(reasons []string) {
	for _, r := range reasons {
		m.VerifierRejects.WithLabelValues(r)
	}
}

// Namespace returns the bounded label value for ns.
// A sub-namespace is counted as its parent, so clients cannot crowd the
// label out with X-Semcache-Namespace values.
func (m *Metrics) Namespace(ns string) string { return m.namespaces.label(cache.ParentNamespace(ns)) }

// WatchCache exports the cache's tier gauges and counters.
func (m *Metrics) WatchCache(c *cache.Cache) {
	m.cacheCollectorReg.Do(func() {
		m.registry.MustRegister(&cacheCollector{c: c})
	})
}

// recordSaved adds the tokens and money a hit saved.
func (m *Metrics) recordSaved(ns string, e *cache.Entry) {
	if e == nil {
		return
	}
	u := e.Answer.Usage
	if u == nil {
		return
	}
	label := m.Namespace(ns)
	m.TokensSaved.WithLabelValues(label, "prompt").Add(float64(u.PromptTokens))
	m.TokensSaved.WithLabelValues(label, "completion").Add(float64(u.CompletionTokens))
	prices := *m.prices.Load()
	p, ok := prices[e.RequestModel]
	if !ok {
		p, ok = prices[e.Answer.Model]
	}
	if ok {
		cost := float64(u.PromptTokens)*p.PromptPerMillion/1e6 + float64(u.CompletionTokens)*p.CompletionPerMillion/1e6
		m.CostSaved.WithLabelValues(label).Add(cost)
	}
}

func (m *Metrics) observeLookup(r *cache.Result) {
	m.LookupDuration.WithLabelValues("exact").Observe(r.ExactTime.Seconds())
	if r.EmbedTime > 0 {
		m.LookupDuration.WithLabelValues("embed").Observe(r.EmbedTime.Seconds())
	}
	if r.SearchTime > 0 {
		m.LookupDuration.WithLabelValues("search").Observe(r.SearchTime.Seconds())
	}
	for _, rej := range r.Rejections {
		m.VerifierRejects.WithLabelValues(rej.Reason).Inc()
		m.Similarity.WithLabelValues("rejected").Observe(float64(rej.Score))
	}
	if r.EmbedErr != nil {
		m.DegradedLookups.WithLabelValues("embedder").Inc()
	}
	if r.SearchErr != nil {
		m.DegradedLookups.WithLabelValues("store").Inc()
	}
	if r.Skipped != "" {
		m.SemanticSkipped.WithLabelValues(r.Skipped).Inc()
	}
}

func (m *Metrics) observeRequest(front, route, ns, outcome string, d time.Duration) {
	m.Requests.WithLabelValues(front, m.routes.label(route), m.Namespace(ns), outcome).Inc()
	m.RequestDuration.WithLabelValues(outcome).Observe(d.Seconds())
}

// maxRoutes bounds the route label: the cached APIs plus the first path
// segments of passed-through calls (models, files, …); more fold into
// "_other".
const maxRoutes = 32

// labelBound admits the first max distinct values and folds the rest into
// "_other", so a flood of API keys cannot explode the series count.
type labelBound struct {
	mu   sync.RWMutex
	max  int
	seen map[string]bool
}

func (b *labelBound) label(v string) string {
	b.mu.RLock()
	ok := b.seen[v]
	n := len(b.seen)
	b.mu.RUnlock()
	if ok {
		return v
	}
	if n >= b.max {
		return "_other"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.seen) >= b.max && !b.seen[v] {
		return "_other"
	}
	b.seen[v] = true
	return v
}

// cacheCollector reads the cache's own counters at scrape time.
type cacheCollector struct{ c *cache.Cache }

var (
	descEntries   = prometheus.NewDesc("semcache_cache_entries", "Entries per tier.", []string{"tier"}, nil)
	descBytes     = prometheus.NewDesc("semcache_cache_bytes", "Bytes held by the hot tier.", []string{"tier"}, nil)
	descEvictions = prometheus.NewDesc("semcache_cache_evictions_total", "Entries evicted per tier.", []string{"tier"}, nil)
	descQueue     = prometheus.NewDesc("semcache_writeback_queue_length", "Jobs (entries and aliases) waiting in the write-back queue or being written.", nil, nil)
	descDropped   = prometheus.NewDesc("semcache_writeback_dropped_total", "Entries kept only in memory because the write-back queue was full.", nil, nil)
	descEmbedErr  = prometheus.NewDesc("semcache_embedder_errors_total", "Embedder failures (lookups and write-backs).", nil, nil)
	descStoreErr  = prometheus.NewDesc("semcache_store_errors_total", "Vector store failures (lookups and write-backs).", nil, nil)
	descDiskErr   = prometheus.NewDesc("semcache_disk_write_errors_total", "Entries the disk tier failed to persist.", nil, nil)
	descWritten   = prometheus.NewDesc("semcache_writeback_written_total", "Entries the write-back queue finished writing (disk and similarity tier).", nil, nil)
	descWaited    = prometheus.NewDesc("semcache_writeback_waited_total", "Answers that found the write-back queue full and waited for room (backpressure).", nil, nil)
	descBacklog   = prometheus.NewDesc("semcache_index_backlog", "Entries waiting for a failing vector store (journal and memory).", nil, nil)
	descReplayed  = prometheus.NewDesc("semcache_index_replayed_total", "Entries indexed from the journal after a restart or a store outage.", nil, nil)
	descIdxDrop   = prometheus.NewDesc("semcache_index_dropped_total", "Entries past the vector-store backlog's bound (served by the exact tier only).", nil, nil)
	descExpired   = prometheus.NewDesc("semcache_janitor_expired_total", "Expired entries the janitor purged from disk and the vector store.", nil, nil)
)

func (cc *cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEntries, descBytes, descEvictions, descQueue, descDropped, descEmbedErr, descStoreErr, descDiskErr, descWritten,
		descWaited, descBacklog, descReplayed, descIdxDrop, descExpired} {
		ch <- d
	}
}

func (cc *cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := cc.c.Stats()
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(s.Hot.Entries), "hot")
	ch <- prometheus.MustNewConstMetric(descEntries, prometheus.GaugeValue, float64(s.DiskEntries), "disk")
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(s.Hot.Bytes), "hot")
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(s.Hot.Evictions), "hot")
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(s.QueueLen))
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(descEmbedErr, prometheus.CounterValue, float64(s.EmbedErrors))
	ch <- prometheus.MustNewConstMetric(descStoreErr, prometheus.CounterValue, float64(s.StoreErrors))
	ch <- prometheus.MustNewConstMetric(descDiskErr, prometheus.CounterValue, float64(s.WriteErrors))
	ch <- prometheus.MustNewConstMetric(descWritten, prometheus.CounterValue, float64(s.Written))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(s.Evicted), "quota")
	ch <- prometheus.MustNewConstMetric(descWaited, prometheus.CounterValue, float64(s.Waited))
	ch <- prometheus.MustNewConstMetric(descBacklog, prometheus.GaugeValue, float64(s.IndexBacklog))
	ch <- prometheus.MustNewConstMetric(descReplayed, prometheus.CounterValue, float64(s.Replayed))
	ch <- prometheus.MustNewConstMetric(descIdxDrop, prometheus.CounterValue, float64(s.IndexDropped))
	ch <- prometheus.MustNewConstMetric(descExpired, prometheus.CounterValue, float64(s.Expired))
}
