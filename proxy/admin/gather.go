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

// Metric names the dashboard reads (defined in engine/metrics.go).
const (
	mRequests   = "semcache_requests_total"
	mDuration   = "semcache_request_duration_seconds"
	mSimilarity = "semcache_similarity_score"
	mRejections = "semcache_verifier_rejections_total"
	mTokens     = "semcache_saved_tokens_total"
	mCost       = "semcache_saved_cost_usd_total"
	mEntries    = "semcache_cache_entries"
	mBytes      = "semcache_cache_bytes"
	mEvictions  = "semcache_cache_evictions_total"
	mQueue      = "semcache_writeback_queue_length"
	mCoalesced  = "semcache_coalesced_requests_total"
	mShadow     = "semcache_shadow_hits_total"
	mDegraded   = "semcache_degraded_lookups_total"
)

type nsOutcome struct{ ns, outcome string }

// savings are what hits saved in one namespace.
type savings struct {
	prompt, completion, usd float64
}

// snapshot is one reading of semcache's metrics.
type snapshot struct {
	requests   map[nsOutcome]float64 // summed over fronts and routes
	routes     map[string]*Summary   // by route, over namespaces
	saved      map[string]savings
	durations  map[string]*dto.Histogram // by outcome
	similarity map[string]*dto.Histogram // by kind
	rejections map[string]float64
	gauges     CacheGauges
}

// CacheGauges are the cache's size and health at the time of reading.
type CacheGauges struct {
	HotEntries    float64 `json:"hot_entries"`
	DiskEntries   float64 `json:"disk_entries"`
	HotBytes      float64 `json:"hot_bytes"`
	Evictions     float64 `json:"evictions"`
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
		requests:   map[nsOutcome]float64{},
		routes:     map[string]*Summary{},
		saved:      map[string]savings{},
		durations:  map[string]*dto.Histogram{},
		similarity: map[string]*dto.Histogram{},
		rejections: map[string]float64{},
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			counter := m.GetCounter().GetValue()
			gauge := m.GetGauge().GetValue()
			switch mf.GetName() {
			case mRequests:
				s.requests[nsOutcome{label(m, "namespace"), label(m, "outcome")}] += counter
				r := s.routes[label(m, "route")]
				if r == nil {
					r = &Summary{}
					s.routes[label(m, "route")] = r
				}
				r.add(label(m, "outcome"), counter)
			case mTokens:
				ns := label(m, "namespace")
				v := s.saved[ns]
				switch label(m, "kind") {
				case "prompt":
					v.prompt += counter
				case "completion":
					v.completion += counter
				}
				s.saved[ns] = v
			case mCost:
				ns := label(m, "namespace")
				v := s.saved[ns]
				v.usd += counter
				s.saved[ns] = v
			case mDuration:
				s.durations[label(m, "outcome")] = m.GetHistogram()
			case mSimilarity:
				s.similarity[label(m, "kind")] = m.GetHistogram()
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
			case mEvictions:
				s.gauges.Evictions += counter
			case mQueue:
				s.gauges.QueueLength = gauge
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
	var sum Summary
	for k, v := range s.requests {
		if inScope(scope, k.ns) {
			sum.add(k.outcome, v)
		}
	}
	for ns, v := range s.saved {
		if inScope(scope, ns) {
			sum.TokensSavedPrompt += v.prompt
			sum.TokensSavedCompletion += v.completion
			sum.CostSavedUSD += v.usd
		}
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

// namespaceSummaries lists every namespace label, busiest first.
func (s snapshot) namespaceSummaries() []NamespaceSummary {
	seen := map[string]bool{}
	for k := range s.requests {
		seen[k.ns] = true
	}
	for ns := range s.saved {
		seen[ns] = true
	}
	out := make([]NamespaceSummary, 0, len(seen))
	for ns := range seen {
		out = append(out, NamespaceSummary{Namespace: ns, Summary: s.summary(ns)})
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
