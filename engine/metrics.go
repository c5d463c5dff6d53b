package engine

import (
	"slices"
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

// Outcomes lists every outcome, in the order the dashboard shows them.
var Outcomes = []string{OutcomeHitExact, OutcomeHitSemantic, OutcomeHitPartial, OutcomeMiss, OutcomeBypass, OutcomeError}

// DefaultMaxNamespaces bounds the namespace label (--metrics-max-namespaces).
const DefaultMaxNamespaces = 100

// OtherLabel is the label value bounded labels fold into.
const OtherLabel = "_other"

// Price is what a model costs, in USD per million tokens.
type Price struct {
	PromptPerMillion     float64 `yaml:"prompt_per_million"`
	CompletionPerMillion float64 `yaml:"completion_per_million"`
}

// Metrics are semcache's Prometheus metrics, registered on a registry the
// caller owns (never the global one). Every labelled series whose label
// values are known is created at 0 (see metrics_init.go), so alerts see 0
// rather than no data; the README's metrics table lists them all.
type Metrics struct {
	Requests *prometheus.CounterVec
	Items    *prometheus.CounterVec
	// HitDuration is the server-side time of a full hit (fine buckets);
	// MissDuration that of a request that asked upstream or failed
	// (coarse buckets); PassDuration that of a passed-through request.
	HitDuration        *prometheus.HistogramVec
	MissDuration       *prometheus.HistogramVec
	PassDuration       *prometheus.HistogramVec
	LookupDuration     *prometheus.HistogramVec
	UpstreamDuration   *prometheus.HistogramVec
	UpstreamFirstToken *prometheus.HistogramVec
	UpstreamFirstByte  *prometheus.HistogramVec
	InterToken         *prometheus.HistogramVec
	UpstreamResponses  *prometheus.CounterVec
	Similarity         *prometheus.HistogramVec
	VerifierRejects    *prometheus.CounterVec
	TokensSaved        *prometheus.CounterVec
	CostSaved          *prometheus.CounterVec
	WriteBackSkipped   *prometheus.CounterVec
	Coalesced          *prometheus.CounterVec
	UpstreamErrors     *prometheus.CounterVec
	ShadowHits         *prometheus.CounterVec
	ShadowAnswerSim    prometheus.Histogram
	RAGRetrievals      *prometheus.CounterVec
	RAGPassages        prometheus.Counter
	DegradedLookups    *prometheus.CounterVec
	SemanticSkipped    *prometheus.CounterVec
	Refused            *prometheus.CounterVec
	BuildInfo          *prometheus.GaugeVec
	namespaces         *labelBound
	routes             *labelBound
	zero               zeroSeries
	prices             atomic.Pointer[map[string]Price] // reloadable: see SetPrices
	spec               speculationMetrics               // see speculative.go
	registry           prometheus.Registerer
	cacheCollectorReg  sync.Once
	budget             *budgetMetrics
	budgetReg          sync.Once
	policyM            *policyMetrics // see policy_metrics.go
	policyReg          sync.Once
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
		HitDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_hit_duration_seconds", Help: "Server-side time of requests served from the cache, by namespace and tier (exact, semantic).",
			Buckets: FastBuckets,
		}, []string{"namespace", "tier"}),
		MissDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_miss_duration_seconds", Help: "Server-side time of cached-API requests that asked upstream (miss, hit_partial) or failed (error), by namespace and outcome.",
			Buckets: SlowBuckets,
		}, []string{"namespace", "outcome"}),
		PassDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_passthrough_duration_seconds", Help: "Server-side time of requests passed through uncached (outcome bypass), by route.",
			Buckets: SlowBuckets,
		}, []string{"route"}),
		LookupDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_lookup_duration_seconds", Help: "Cache lookup time by namespace and step (exact, embed, search).",
			Buckets: FastBuckets,
		}, []string{"namespace", "step"}),
		UpstreamDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_upstream_duration_seconds", Help: "Upstream call time of cached APIs, from sending the request to the end of the body, by namespace.", Buckets: SlowBuckets,
		}, []string{"namespace"}),
		UpstreamFirstToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_upstream_first_token_seconds", Help: "Streamed (SSE) answers of cached APIs: upstream time to the first event carrying content (text, a refusal or a tool call), by namespace.", Buckets: SlowBuckets,
		}, []string{"namespace"}),
		UpstreamFirstByte: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_upstream_first_byte_seconds", Help: "JSON answers of cached APIs: upstream time to the first body byte, by namespace.", Buckets: SlowBuckets,
		}, []string{"namespace"}),
		InterToken: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "semcache_upstream_inter_chunk_seconds", Help: "Gap between upstream stream chunks of cached APIs, by namespace.", Buckets: FastBuckets,
		}, []string{"namespace"}),
		UpstreamResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_upstream_responses_total", Help: "Upstream responses by namespace and status class (2xx, 3xx, 4xx, 5xx).",
		}, []string{"namespace", "class"}),
		Similarity: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "semcache_similarity_score",
			Help:    "Similarity of semantic candidates by namespace and kind: served hits, verifier rejections (rejected) and shadow hits.",
			Buckets: []float64{.5, .6, .7, .75, .8, .85, .875, .9, .925, .95, .975, .99, 1},
		}, []string{"namespace", "kind"}),
		VerifierRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_verifier_rejections_total", Help: "Semantic candidates refused by the verifier, by namespace and reason.",
		}, []string{"namespace", "reason"}),
		TokensSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_saved_tokens_total", Help: "Tokens not sent upstream thanks to hits (from the stored usage), by namespace and kind (prompt, completion).",
		}, []string{"namespace", "kind"}),
		CostSaved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_saved_cost_usd_total", Help: "Estimated USD saved by hits, from the configured price table (prices:).",
		}, []string{"namespace"}),
		WriteBackSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_writeback_skipped_total", Help: "Upstream answers not handed to the write-back, by reason (not_cacheable, no_store: the request asked not to store, upstream_no_store: the upstream answer said no-store or private, rule_no_store: a cache rule, error_status); the stored ones are semcache_writeback_queued_total and semcache_writeback_dropped_total{stage=\"queue\"}.",
		}, []string{"reason"}),
		Coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_coalesced_requests_total", Help: "Requests that joined an identical in-flight upstream call, by namespace.",
		}, []string{"namespace"}),
		UpstreamErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_upstream_errors_total", Help: "Upstream failures by namespace and kind (unreachable, broken_stream).",
		}, []string{"namespace", "kind"}),
		ShadowHits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_shadow_hits_total", Help: "Would-be semantic hits in shadow-mode namespaces.",
		}, []string{"namespace"}),
		ShadowAnswerSim: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "semcache_shadow_answer_similarity",
			Help:    "Shadow mode: similarity of a would-be hit's cached answer to the fresh upstream answer (low values are would-be false hits).",
			Buckets: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, 1},
		}),
		RAGRetrievals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_rag_retrievals_total", Help: "RAG retrievals by outcome (injected, empty, error).",
		}, []string{"outcome"}),
		RAGPassages: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "semcache_rag_passages_injected_total", Help: "Passages injected into prompts.",
		}),
		DegradedLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_degraded_lookups_total", Help: "Lookups that fell back to a miss because the embedder or store failed, by namespace and cause (embedder, store).",
		}, []string{"namespace", "cause"}),
		SemanticSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_semantic_skipped_total", Help: "Lookups kept to the exact tier although the similarity tier applies, by namespace and reason (too_long: the prompt is above the tier's bound).",
		}, []string{"namespace", "reason"}),
		Refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "semcache_refused_requests_total", Help: "Requests refused before any lookup, by reason (unauthorized, bad_path, not_allowed, overloaded).",
		}, []string{"reason"}),
		BuildInfo:  newBuildInfo(),
		namespaces: &labelBound{max: maxNamespaces, seen: map[string]bool{}},
		routes:     &labelBound{max: maxRoutes, seen: map[string]bool{}},
		registry:   reg,
		budget:     newBudgetMetrics(),
	}
	m.SetPrices(prices)
	reg.MustRegister(m.collectors()...)
	m.initSeries()
	return m
}

// collectors are the metrics NewMetrics registers (WatchCache and
// WatchBudget add theirs).
func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Requests, m.Items, m.HitDuration, m.MissDuration, m.PassDuration, m.LookupDuration,
		m.UpstreamDuration, m.UpstreamFirstToken, m.UpstreamFirstByte, m.InterToken, m.UpstreamResponses,
		m.Similarity, m.VerifierRejects, m.TokensSaved, m.CostSaved, m.WriteBackSkipped, m.Coalesced, m.UpstreamErrors,
		m.ShadowHits, m.ShadowAnswerSim, m.RAGRetrievals, m.RAGPassages, m.DegradedLookups, m.SemanticSkipped, m.Refused,
		m.BuildInfo}
}

// SetPrices replaces the model prices the saved cost is computed with;
// safe while serving.
func (m *Metrics) SetPrices(prices map[string]Price) {
	m.prices.Store(&prices)
}

// HasPrices reports whether a price table is configured (without one the
// money saved is unknown, not zero).
func (m *Metrics) HasPrices() bool {
	return len(*m.prices.Load()) > 0
}

// PreRegisterReasons makes every verifier reason visible at zero, in
// every namespace label known now and later.
func (m *Metrics) PreRegisterReasons(reasons []string) {
	m.zero.mu.Lock()
	m.zero.reasons = append(m.zero.reasons, reasons...)
	nss := slices.Clone(m.zero.ns)
	m.zero.mu.Unlock()
	for _, ns := range nss {
		for _, r := range reasons {
			m.VerifierRejects.WithLabelValues(ns, r)
		}
	}
}

// Namespace returns the bounded label value for ns; a namespace seen for
// the first time gets its series created at 0. A sub-namespace is counted
// as its parent, so clients cannot crowd the label out with
// X-Semcache-Namespace values.
func (m *Metrics) Namespace(ns string) string {
	label, first := m.namespaces.label(cache.ParentNamespace(ns))
	if first {
		m.initNamespace(label)
	}
	return label
}

// WatchCache exports the cache's tier gauges and counters.
func (m *Metrics) WatchCache(c *cache.Cache) {
	m.cacheCollectorReg.Do(func() {
		m.registry.MustRegister(&cacheCollector{c: c})
	})
}

// recordSaved adds the tokens and money a hit of e saved by serving a
// (one of its answers: a variant's usage is its own).
func (m *Metrics) recordSaved(ns string, e *cache.Entry, a *cache.Answer) {
	if e == nil || a == nil {
		return
	}
	u := a.Usage
	if u == nil {
		return
	}
	label := m.Namespace(ns)
	m.TokensSaved.WithLabelValues(label, "prompt").Add(float64(u.PromptTokens))
	m.TokensSaved.WithLabelValues(label, "completion").Add(float64(u.CompletionTokens))
	prices := *m.prices.Load()
	p, ok := prices[e.RequestModel]
	if !ok {
		p, ok = prices[a.Model]
	}
	if ok {
		cost := float64(u.PromptTokens)*p.PromptPerMillion/1e6 + float64(u.CompletionTokens)*p.CompletionPerMillion/1e6
		m.CostSaved.WithLabelValues(label).Add(cost)
	}
}

func (m *Metrics) observeLookup(ns string, r *cache.Result) {
	label := m.Namespace(ns)
	m.LookupDuration.WithLabelValues(label, "exact").Observe(r.ExactTime.Seconds())
	if r.EmbedTime > 0 {
		m.LookupDuration.WithLabelValues(label, "embed").Observe(r.EmbedTime.Seconds())
	}
	if r.SearchTime > 0 {
		m.LookupDuration.WithLabelValues(label, "search").Observe(r.SearchTime.Seconds())
	}
	for _, rej := range r.Rejections {
		m.VerifierRejects.WithLabelValues(label, rej.Reason).Inc()
		m.Similarity.WithLabelValues(label, "rejected").Observe(float64(rej.Score))
	}
	if r.EmbedErr != nil {
		m.DegradedLookups.WithLabelValues(label, "embedder").Inc()
	}
	if r.SearchErr != nil {
		m.DegradedLookups.WithLabelValues(label, "store").Inc()
	}
	if r.Skipped != "" {
		m.SemanticSkipped.WithLabelValues(label, r.Skipped).Inc()
	}
}

// observeRequest counts a finished request and records its duration in
// the histogram sized for its outcome.
func (m *Metrics) observeRequest(front, route, ns, outcome string, d time.Duration) {
	route = m.route(route)
	label := m.Namespace(ns)
	m.Requests.WithLabelValues(front, route, label, outcome).Inc()
	switch outcome {
	case OutcomeHitExact:
		m.HitDuration.WithLabelValues(label, "exact").Observe(d.Seconds())
	case OutcomeHitSemantic:
		m.HitDuration.WithLabelValues(label, "semantic").Observe(d.Seconds())
	case OutcomeBypass:
		m.PassDuration.WithLabelValues(route).Observe(d.Seconds())
	default:
		m.MissDuration.WithLabelValues(label, outcome).Observe(d.Seconds())
	}
}

// observeUpstream counts an upstream response by status class.
func (m *Metrics) observeUpstream(ns string, status int) {
	m.UpstreamResponses.WithLabelValues(m.Namespace(ns), statusClass(status)).Inc()
}

// upstreamError counts an upstream failure (kind: unreachable,
// broken_stream).
func (m *Metrics) upstreamError(ns, kind string) {
	m.UpstreamErrors.WithLabelValues(m.Namespace(ns), kind).Inc()
}

// statusClasses are the values of the class label.
var statusClasses = []string{"2xx", "3xx", "4xx", "5xx"}

func statusClass(status int) string {
	switch {
	case status >= 500:
		return "5xx"
	case status >= 400:
		return "4xx"
	case status >= 300:
		return "3xx"
	}
	return "2xx"
}

// route returns the bounded label value of a route.
func (m *Metrics) route(r string) string {
	label, _ := m.routes.label(r)
	return label
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

// label returns the label value of v, and whether v was admitted just now.
func (b *labelBound) label(v string) (string, bool) {
	if v == OtherLabel {
		return v, false
	}
	b.mu.RLock()
	ok := b.seen[v]
	n := len(b.seen)
	b.mu.RUnlock()
	if ok {
		return v, false
	}
	if n >= b.max {
		return OtherLabel, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[v] {
		return v, false
	}
	if len(b.seen) >= b.max {
		return OtherLabel, false
	}
	b.seen[v] = true
	return v, true
}
