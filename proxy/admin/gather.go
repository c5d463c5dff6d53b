package admin

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/semcache/semcache/engine"
)

// Metric names the dashboard reads (defined in engine/metrics.go and
// engine/cache_metrics.go; TestDashboardReadsRegisteredMetrics checks
// them against the registry).
const (
	mRequests   = "semcache_requests_total"
	mHit        = "semcache_hit_duration_seconds"
	mMiss       = "semcache_miss_duration_seconds"
	mPass       = "semcache_passthrough_duration_seconds"
	mFirstToken = "semcache_upstream_first_token_seconds"
	mFirstByte  = "semcache_upstream_first_byte_seconds"
	mResponses  = "semcache_upstream_responses_total"
	mUpErrors   = "semcache_upstream_errors_total"
	mSimilarity = "semcache_similarity_score"
	mRejections = "semcache_verifier_rejections_total"
	mTokens     = "semcache_saved_tokens_total"
	mCost       = "semcache_saved_cost_usd_total"
	mEntries    = "semcache_cache_entries"
	mBytes      = "semcache_cache_bytes"
	mMaxBytes   = "semcache_cache_max_bytes"
	mEvictions  = "semcache_cache_evictions_total"
	mBacklog    = "semcache_writeback_backlog"
	mCoalesced  = "semcache_coalesced_requests_total"
	mShadow     = "semcache_shadow_hits_total"
	mDegraded   = "semcache_degraded_lookups_total"
)

// readMetrics are the metric names the dashboard reads.
var readMetrics = []string{mRequests, mHit, mMiss, mPass, mFirstToken, mFirstByte, mResponses, mUpErrors, mSimilarity,
	mRejections, mTokens, mCost, mEntries, mBytes, mMaxBytes, mEvictions, mBacklog, mCoalesced, mShadow, mDegraded}

type nsOutcome struct{ ns, outcome string }

// histKey names a histogram series: a namespace label (or a route, for
// pass-through) and what it measures (a tier, an outcome, ttft, ttfb).
type histKey struct{ ns, what string }

// snapshot is one reading of semcache's metrics.
type snapshot struct {
	counts     map[string]nsCounts // by namespace label
	routes     map[string]*Summary // by route, over namespaces
	durations  map[histKey]*dto.Histogram
	similarity map[histKey]*dto.Histogram // by namespace and kind
	rejections map[string]float64
	gauges     CacheGauges
}

// CacheGauges are the cache's size and health at the time of reading.
type CacheGauges struct {
	HotEntries  float64 `json:"hot_entries"`
	DiskEntries float64 `json:"disk_entries"`
	HotBytes    float64 `json:"hot_bytes"`
	// HotMaxBytes is the hot tier's budget (--cache-max-bytes).
	HotMaxBytes float64 `json:"hot_max_bytes"`
	// Evictions are the entries the hot tier's budget pushed out (they
	// stay on disk); QuotaEvictions those a namespace quota removed.
	Evictions      float64 `json:"evictions"`
	QuotaEvictions float64 `json:"quota_evictions"`
	// QueueLength is the write-back's backlog of jobs.
	QueueLength   float64 `json:"writeback_queue_length"`
	Coalesced     float64 `json:"coalesced_requests"`
	ShadowHits    float64 `json:"shadow_hits"`
	DegradedTotal float64 `json:"degraded_lookups"`
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// readSnapshot gathers g and keeps what the dashboard shows.
func readSnapshot(g prometheus.Gatherer) (snapshot, error) {
	mfs, err := g.Gather()
	if err != nil && len(mfs) == 0 {
		return snapshot{}, fmt.Errorf("admin: gather metrics: %w", err)
	}
	s := snapshot{
		counts:     map[string]nsCounts{},
		routes:     map[string]*Summary{},
		durations:  map[histKey]*dto.Histogram{},
		similarity: map[histKey]*dto.Histogram{},
		rejections: map[string]float64{},
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			counter := m.GetCounter().GetValue()
			gauge := m.GetGauge().GetValue()
			ns := label(m, "namespace")
			c := s.counts[ns]
			touched := true
			switch mf.GetName() {
			case mRequests:
				switch label(m, "outcome") {
				case engine.OutcomeHitExact:
					c.exact += counter
				case engine.OutcomeHitSemantic:
					c.semantic += counter
				case engine.OutcomeHitPartial:
					c.partial += counter
				case engine.OutcomeMiss:
					c.miss += counter
				case engine.OutcomeBypass:
					c.bypass += counter
				case engine.OutcomeError:
					c.errors += counter
				}
				r := s.routes[label(m, "route")]
				if r == nil {
					r = &Summary{}
					s.routes[label(m, "route")] = r
				}
				r.add(label(m, "outcome"), counter)
			case mTokens:
				switch label(m, "kind") {
				case "prompt":
					c.promptTokens += counter
				case "completion":
					c.completionTokens += counter
				}
			case mCost:
				c.usd += counter
			case mResponses:
				c.upstream += counter
				if label(m, "class") == "5xx" {
					c.upstreamFailed += counter
				}
			case mUpErrors:
				c.upstreamFailed += counter
				if label(m, "kind") == "unreachable" {
					c.upstream += counter // no response to count it
				}
			default:
				touched = false
			}
			if touched {
				s.counts[ns] = c
			}
			switch mf.GetName() {
			case mHit:
				s.durations[histKey{ns, "hit_" + label(m, "tier")}] = m.GetHistogram()
			case mMiss:
				s.durations[histKey{ns, label(m, "outcome")}] = m.GetHistogram()
			case mPass:
				s.durations[histKey{label(m, "route"), engine.OutcomeBypass}] = m.GetHistogram()
			case mFirstToken:
				s.durations[histKey{ns, "first_token"}] = m.GetHistogram()
			case mFirstByte:
				s.durations[histKey{ns, "first_byte"}] = m.GetHistogram()
			case mSimilarity:
				s.similarity[histKey{ns, label(m, "kind")}] = m.GetHistogram()
			case mRejections:
				s.rejections[label(m, "reason")] += counter
			case mEntries:
				switch label(m, "tier") {
				case "hot":
					s.gauges.HotEntries = gauge
				case "disk":
					s.gauges.DiskEntries = gauge
				}
			case mBytes:
				s.gauges.HotBytes += gauge
			case mMaxBytes:
				s.gauges.HotMaxBytes += gauge
			case mEvictions:
				if label(m, "cause") == "quota" {
					s.gauges.QuotaEvictions += counter
				} else {
					s.gauges.Evictions += counter
				}
			case mBacklog:
				if label(m, "stage") == "queue" {
					s.gauges.QueueLength = gauge
				}
			case mCoalesced:
				s.gauges.Coalesced += counter
			case mShadow:
				s.gauges.ShadowHits += counter
			case mDegraded:
				s.gauges.DegradedTotal += counter
			}
		}
	}
	return s, nil
}

// Summary counts requests and savings.
type Summary struct {
	Requests     float64 `json:"requests"`
	HitsExact    float64 `json:"hits_exact"`
	HitsSemantic float64 `json:"hits_semantic"`
	// HitsPartial are batch requests (embeddings) with some items cached.
	HitsPartial float64 `json:"hits_partial"`
	Misses      float64 `json:"misses"`
	Bypassed    float64 `json:"bypassed"`
	Errors      float64 `json:"errors"`
	// HitRate is hits / (hits + partial hits + misses): bypassed and
	// failed requests are not lookups. 0 without lookups.
	HitRate               float64 `json:"hit_rate"`
	TokensSavedPrompt     float64 `json:"tokens_saved_prompt"`
	TokensSavedCompletion float64 `json:"tokens_saved_completion"`
	CostSavedUSD          float64 `json:"cost_saved_usd"`
	// UpstreamErrorRate is the share of upstream calls that failed (5xx,
	// unreachable, broken stream).
	UpstreamErrorRate float64 `json:"upstream_error_rate"`
}

// NamespaceSummary is a Summary of one namespace label.
type NamespaceSummary struct {
	Namespace string `json:"namespace"`
	Summary
}

func (s *Summary) add(outcome string, v float64) {
	s.Requests += v
	switch outcome {
	case engine.OutcomeHitExact:
		s.HitsExact += v
	case engine.OutcomeHitSemantic:
		s.HitsSemantic += v
	case engine.OutcomeHitPartial:
		s.HitsPartial += v
	case engine.OutcomeMiss:
		s.Misses += v
	case engine.OutcomeBypass:
		s.Bypassed += v
	case engine.OutcomeError:
		s.Errors += v
	}
}

func (s *Summary) finish() {
	if lookups := s.HitsExact + s.HitsSemantic + s.HitsPartial + s.Misses; lookups > 0 {
		s.HitRate = (s.HitsExact + s.HitsSemantic) / lookups
	}
}

// inScope reports whether namespace label ns belongs to scope ("": all).
func inScope(scope, ns string) bool { return scope == "" || scope == ns }

// summary totals one namespace ("" for all).
func (s snapshot) summary(scope string) Summary {
	var c nsCounts
	for ns, v := range s.counts {
		if inScope(scope, ns) {
			c.addTo(v)
		}
	}
	sum := Summary{
		Requests:  c.exact + c.semantic + c.partial + c.miss + c.bypass + c.errors,
		HitsExact: c.exact, HitsSemantic: c.semantic, HitsPartial: c.partial,
		Misses: c.miss, Bypassed: c.bypass, Errors: c.errors,
		TokensSavedPrompt: c.promptTokens, TokensSavedCompletion: c.completionTokens, CostSavedUSD: c.usd,
	}
	if c.upstream > 0 {
		sum.UpstreamErrorRate = c.upstreamFailed / c.upstream
	}
	sum.finish()
	return sum
}

// RouteSummary is a Summary of one route (an API, or a passed-through
// path family), over all namespaces; savings are not split by route.
type RouteSummary struct {
	Route string `json:"route"`
	Summary
}

// routeSummaries lists every route, busiest first.
func (s snapshot) routeSummaries() []RouteSummary {
	out := make([]RouteSummary, 0, len(s.routes))
	for r, sum := range s.routes {
		if sum.Requests == 0 {
			continue // initialised at 0, no traffic yet
		}
		v := *sum
		v.finish()
		out = append(out, RouteSummary{Route: r, Summary: v})
	}
	slices.SortFunc(out, func(a, b RouteSummary) int {
		if a.Requests != b.Requests {
			return compareDesc(a.Requests, b.Requests)
		}
		return strings.Compare(a.Route, b.Route)
	})
	return out
}

// namespaceSummaries lists every namespace label that has seen traffic,
// busiest first.
func (s snapshot) namespaceSummaries() []NamespaceSummary {
	out := make([]NamespaceSummary, 0, len(s.counts))
	for ns := range s.counts {
		sum := s.summary(ns)
		if ns == "" || sum.Requests == 0 {
			continue // initialised at 0, no traffic yet
		}
		out = append(out, NamespaceSummary{Namespace: ns, Summary: sum})
	}
	slices.SortFunc(out, func(a, b NamespaceSummary) int {
		if a.Requests != b.Requests {
			return compareDesc(a.Requests, b.Requests)
		}
		return strings.Compare(a.Namespace, b.Namespace)
	})
	return out
}

func compareDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// quantile estimates the q-quantile of a histogram like PromQL's
// histogram_quantile: linear interpolation inside the bucket holding the
// rank; the highest finite bound when the rank falls in +Inf.
func quantile(q float64, h *dto.Histogram) float64 {
	total := float64(h.GetSampleCount())
	if h == nil || total == 0 {
		return 0
	}
	rank := q * total
	lower, prevCount := 0.0, 0.0
	for _, b := range h.GetBucket() {
		upper, count := b.GetUpperBound(), float64(b.GetCumulativeCount())
		if math.IsInf(upper, 1) {
			break
		}
		if count >= rank {
			if count == prevCount {
				return upper
			}
			return lower + (upper-lower)*(rank-prevCount)/(count-prevCount)
		}
		lower, prevCount = upper, count
	}
	return lower
}
